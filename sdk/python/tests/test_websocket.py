"""The live feed through the SDK: seed 004's snippet as written, reconnect after the
server drops the socket (4401 at the access token's expiry), resubscribe, the gap
reported; and the renewal that keeps a socket open past expiry."""

import asyncio
import contextlib
import io
import os
import textwrap
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from heimdall_sdk import HeimdallClient, WebSocketClosedError
from heimdall_sdk.websocket import Gap

from .conftest import URL, key

# Seed 004, "SDK and Client Libraries" / "Python SDK", verbatim but for the URL and key.
SEED_SNIPPET = """
from heimdall_sdk import HeimdallClient, WebSocketClosedError

# Initialize client
client = HeimdallClient(
    base_url="https://api.heimdall.example.com",
    api_key="your_api_key"
)

# Get signal detections
detections = await client.signals.get_detections(
    frequency_range=(14000000, 15000000),
    time_range=("2024-01-15T12:00:00Z", "2024-01-15T18:00:00Z"),
    station_id="twente-nl"
)

# Analyze signal data
result = await client.signals.analyze(
    signal_data=signal_samples,
    sample_rate=48000,
    frequency=14235000
)

# Subscribe to live data
async with client.websocket.connect() as ws:
    await ws.subscribe_signals(
        stations=["twente-nl"],
        frequency_range=(14000000, 15000000)
    )

    async for signal in ws.stream():
        print(f"Signal detected: {signal.frequency_hz} Hz")
"""


def _detection(frequency: int) -> dict:
    return {
        "websdr_station_id": "twente-nl",
        "frequency_hz": frequency,
        "signal_strength_db": -60.0,
        "anomaly_score": 0.1,
        "detection_timestamp": (datetime.now(UTC) - timedelta(seconds=5)).isoformat(),
    }


async def _ingest_until(predicate, frequency: int, timeout: float = 15.0) -> None:
    """Ingest a detection every 0.5 s until `predicate()` (the feed may lag by up to 1 s)."""
    async with HeimdallClient(URL, api_key=key("operator")) as op:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            assert asyncio.get_running_loop().time() < deadline, "nothing arrived"
            await op.signals.ingest([_detection(frequency)])
            await asyncio.sleep(0.5)


async def test_seed_004_python_snippet_runs_as_written():
    code = SEED_SNIPPET.replace("https://api.heimdall.example.com", URL).replace(
        "your_api_key", key("viewer")
    )
    out = io.StringIO()
    namespace = {"signal_samples": [0.0, 0.5, 1.0, 0.5, 0.0, -0.5, -1.0, -0.5] * 128}
    body = "async def __snippet():\n" + textwrap.indent(code, "    ")
    body += "\n    globals().update(locals())\n"
    exec(compile(body, "seed_004_snippet", "exec"), namespace)
    with contextlib.redirect_stdout(out):
        task = asyncio.create_task(namespace["__snippet"]())
        try:
            await _ingest_until(
                lambda: "Signal detected: 14123456 Hz" in out.getvalue(), 14_123_456
            )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert "Signal detected: 14123456 Hz" in out.getvalue()


@pytest.mark.slow
async def test_reconnect_after_the_server_drops_the_socket_resubscribes_and_reports_the_gap():
    password = os.environ["HEIMDALL_PASSWORD"]
    gaps: list[Gap] = []
    freq = 14_200_000 + uuid.uuid4().int % 1000
    async with (
        HeimdallClient(URL, username="live-viewer", password=password) as dropped_client,
        HeimdallClient(URL, username="live-viewer", password=password) as renewed_client,
    ):
        dropped = dropped_client.websocket.connect(reauthenticate=False, on_gap=gaps.append)
        renewed = renewed_client.websocket.connect()  # sends `authenticate` before expiry
        async with dropped, renewed:
            for ws in (dropped, renewed):
                await ws.subscribe_signals(stations=["twente-nl"], frequency_range=(freq, freq))
            lifetime = dropped_client.transport.token_expires_in()
            assert lifetime is not None and lifetime < 30
            items: list = []
            renewed_items: list = []

            async def read(ws, into):
                async for item in ws.stream(include_gaps=True):
                    into.append(item)

            readers = [
                asyncio.create_task(read(dropped, items)),
                asyncio.create_task(read(renewed, renewed_items)),
            ]
            try:
                await asyncio.sleep(lifetime + 1)  # the server closes `dropped` with 4401
                await _ingest_until(
                    lambda: (
                        any(not isinstance(i, Gap) for i in items)
                        and any(not isinstance(i, Gap) for i in renewed_items)
                    ),
                    freq,
                )
            finally:
                for task in readers:
                    task.cancel()
    assert len(gaps) == 1 and gaps[0].close_code == 4401
    assert 0 < gaps[0].seconds < 10
    assert isinstance(items[0], Gap)  # reported in the stream before what followed
    assert {i.frequency_hz for i in items[1:]} == {freq}  # resubscribed with its filter
    assert renewed.gaps == [] and renewed.reconnects == 0
    assert dropped.reconnects == 1


async def test_a_revoked_api_key_closes_the_socket_for_good_without_reconnecting():
    password = os.environ["HEIMDALL_PASSWORD"]
    async with HeimdallClient(URL, username="live-operator", password=password) as op:
        minted = await op.auth.create_api_key(f"ws {uuid.uuid4().hex[:8]}", role="viewer")
        async with HeimdallClient(URL, api_key=minted.key) as viewer:
            ws = viewer.websocket.connect(reconnect_delay=0.05)
            async with ws:
                await ws.subscribe_signals(stations=["twente-nl"])
                await op.auth.revoke_api_key(minted.id)
                with pytest.raises(WebSocketClosedError) as closed:
                    async with asyncio.timeout(10):
                        async for _ in ws.stream(include_gaps=True):
                            pass
    assert closed.value.code == 4401
    assert ws.reconnects == 0 and ws.gaps == []
