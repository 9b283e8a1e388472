"""/ws/signals/live on hostile numbers and shapes: an error frame, never a crashed consumer."""

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import websockets
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from rest_framework_simplejwt.tokens import RefreshToken

from heimdall.asgi import application
from tests.helpers import database_url, make_user
from tests.stations.factories import StationFactory

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def subscribe_text(filters_json: str, channels: str = '["signal_detections"]') -> str:
    return f'{{"type": "subscribe", "channels": {channels}, "filters": {filters_json}}}'


HOSTILE = [
    # Non-finite numbers are named down to the element by the base consumer's decoding.
    (subscribe_text('{"frequency_range": [0, Infinity]}'), "filters.frequency_range[1]"),
    (subscribe_text('{"frequency_range": [NaN, 10]}'), "filters.frequency_range[0]"),
    (subscribe_text('{"frequency_range": [0, 1e400]}'), "filters.frequency_range[1]"),
    (subscribe_text('{"frequency_range": [0, 1' + "0" * 30 + "]}"), "filters.frequency_range[1]"),
    (subscribe_text('{"frequency_range": [0, 300000000001]}'), "filters.frequency_range"),
    (subscribe_text('{"anomaly_threshold": NaN}', '["anomaly_alerts"]'),
     "filters.anomaly_threshold"),
    (subscribe_text('{"anomaly_threshold": -Infinity}'), "filters.anomaly_threshold"),
    (subscribe_text('{"severity": [{}]}', '["anomaly_alerts"]'), "filters.severity"),
    # Text PostgreSQL cannot hold: NUL, and a lone surrogate (the long integer makes the
    # reader fall back to Python's json, which accepts one).
    (subscribe_text('{"station_ids": ["tw\\u0000"]}'), "filters.station_ids[0]"),
    (subscribe_text('{"station_ids": ["\\ud800"], "x": 1234567890123456789}'),
     "filters.station_ids[0]"),
    (subscribe_text('{"station_ids": ["x"]}'.replace('["x"]', json.dumps(["a"] * 1001))),
     "filters.station_ids"),
]  # fmt: skip


@database_sync_to_async
def viewer_token() -> str:
    StationFactory(id="twente-nl")
    return str(RefreshToken.for_user(make_user("vera", "viewer")).access_token)


@pytest.mark.parametrize(("text", "field"), HOSTILE)
async def test_hostile_values_get_an_error_frame_and_the_socket_stays(text, field):
    token = await viewer_token()
    ws = WebsocketCommunicator(application, f"/ws/signals/live?token={token}")
    assert (await ws.connect())[0]
    await ws.send_to(text)
    frame = json.loads(await ws.receive_from(timeout=5))
    assert frame["type"] == "error"
    assert frame["error"]["code"] == "VALIDATION_ERROR"
    assert frame["error"]["details"]["field"] == field
    # Still open and still serving: a valid subscribe is acknowledged.
    await ws.send_to(subscribe_text('{"frequency_range": [14000000, 15000000]}'))
    ack = json.loads(await ws.receive_from(timeout=5))
    assert ack["type"] == "subscribed"
    assert ack["filters"]["frequency_range"] == [14_000_000, 15_000_000]
    await ws.disconnect()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
async def test_infinity_on_the_wire_to_a_live_daphne():
    """Issue 12 §2: `[0, Infinity]` closed the socket with 1011; now an error frame."""
    token = await viewer_token()
    port = _free_port()
    url = await sync_to_async(lambda: database_url(connection.settings_dict))()
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_ALLOWED_HOSTS": "127.0.0.1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "heimdall.asgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(150):
            try:
                ws = await websockets.connect(
                    f"ws://127.0.0.1:{port}/ws/signals/live?token={token}"
                )
                break
            except OSError:
                await asyncio.sleep(0.2)
        await ws.send(subscribe_text('{"frequency_range": [0, Infinity]}'))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert frame["type"] == "error"
        assert frame["error"]["details"]["field"] == "filters.frequency_range[1]"
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "pong"
        await ws.close()
        assert ws.close_code == 1000
    finally:
        server.terminate()
        server.wait(timeout=20)
