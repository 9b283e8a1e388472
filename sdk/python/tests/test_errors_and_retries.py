"""Errors become typed exceptions with the envelope; 429s are retried after Retry-After;
connection errors are retried for idempotent calls; tokens are refreshed mid-run.

The suite's server runs with HEIMDALL_RATE_LIMIT_API_KEY=40/s and
HEIMDALL_ACCESS_TOKEN_LIFETIME=8 (Makefile `sdk-python`), so both happen in
seconds, for real.
"""

import asyncio
import os
import socket
import time
import uuid

import httpx
import pytest
from heimdall_sdk import (
    AuthenticationError,
    ConflictError,
    HeimdallClient,
    InvalidTokenError,
    NotFoundError,
    PermissionDeniedError,
    TransportError,
    ValidationError,
)

from .conftest import URL, key


async def test_errors_carry_the_envelope(client, viewer, db):
    with pytest.raises(ValidationError) as caught:
        await client.signals.get_detections(frequency_range=(15_000_000, 14_000_000))
    error = caught.value
    assert (error.status, error.code) == (400, "VALIDATION_ERROR")
    assert error.field == "frequency_min" or "frequency" in error.field
    assert error.request_id and error.timestamp.endswith("Z")

    before = db.execute("SELECT count(*) FROM constellations_constellation").fetchone()
    with pytest.raises(PermissionDeniedError) as denied:
        await viewer.constellations.create("not allowed")
    assert denied.value.code == "PERMISSION_DENIED"
    assert db.execute("SELECT count(*) FROM constellations_constellation").fetchone() == before

    with pytest.raises(NotFoundError):
        await client.anomalies.get(str(uuid.uuid4()))
    name = f"dup-{uuid.uuid4().hex[:6]}"
    await client.training.create_config(name, config={"epochs": 2})
    with pytest.raises(ConflictError) as conflict:
        await client.training.create_config(name, config={"epochs": 3})
    assert conflict.value.status == 409
    assert (await client.training.get_config(name)).config["epochs"] == 2
    await client.training.delete_config(name)

    async with HeimdallClient(URL, api_key="hmd_not_a_key") as bad:
        with pytest.raises(InvalidTokenError) as invalid:
            await bad.stations.list()
    assert invalid.value.code == "INVALID_TOKEN"
    async with HeimdallClient(URL, username="live-viewer", password="wrong") as wrong:
        with pytest.raises(AuthenticationError) as refused:
            await wrong.stations.list()
    assert refused.value.code == "INVALID_CREDENTIALS"


@pytest.mark.slow
async def test_429_is_retried_after_retry_after():
    retries: list[tuple[str, float]] = []
    async with HeimdallClient(
        URL, api_key=key("viewer"), on_retry=lambda r, w: retries.append((r, w))
    ) as c:
        probe = await c.transport.request("GET", "/api/v1/stations", raw=True)
        limit = int(probe.headers["X-RateLimit-Limit"])
        assert limit <= 100, "run the suite with HEIMDALL_RATE_LIMIT_API_KEY=40/s"
        results = []
        for _ in range(5):  # until the window overflows (it resets each second)
            results += await asyncio.gather(*(c.stations.list() for _ in range(2 * limit)))
            if retries:
                break
    assert all(r.total_count == 10 for r in results)
    assert retries and all(reason == "429 RATE_LIMITED" for reason, _ in retries)
    assert all(0 < wait <= 61.25 for _, wait in retries)


async def test_rate_limit_exhausted_raises_rate_limited():
    from heimdall_sdk import RateLimitedError

    async with HeimdallClient(URL, api_key=key("operator"), max_retries=0) as c:
        probe = await c.transport.request("GET", "/api/v1/stations", raw=True)
        limit = int(probe.headers["X-RateLimit-Limit"])
        for _ in range(5):  # a burst split by the window's reset (a loaded machine) is retried
            outcomes = await asyncio.gather(
                *(c.stations.list() for _ in range(2 * limit)), return_exceptions=True
            )
            errors = [o for o in outcomes if isinstance(o, Exception)]
            if errors:
                break
    assert errors and all(isinstance(e, RateLimitedError) for e in errors)
    assert all(e.retry_after and e.retry_after >= 1 for e in errors)
    await asyncio.sleep(1.1)  # leave the next test a fresh window


async def test_connection_errors_are_retried_then_raised():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    retries = []
    async with HeimdallClient(
        f"http://127.0.0.1:{port}", api_key="hmd_x", max_retries=2, backoff=0.01,
        on_retry=lambda r, w: retries.append(r),
    ) as c:  # fmt: skip
        with pytest.raises(TransportError):
            await c.stations.list()
    assert retries == ["connection: ConnectError"] * 2


async def test_a_dropped_answer_is_retried_for_idempotent_calls_only():
    """A server that reads the request and hangs up without answering: GET is sent again,
    POST is not (it may have been done)."""
    hits = {"n": 0}

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        hits["n"] += 1
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with (
        server,
        HeimdallClient(
            f"http://127.0.0.1:{port}", api_key="hmd_x", max_retries=3, backoff=0.01
        ) as c,
    ):
        with pytest.raises(TransportError):
            await c.stations.list()
        assert hits["n"] == 4
        hits["n"] = 0
        with pytest.raises(TransportError):
            await c.constellations.create("x")
        assert hits["n"] == 1


@pytest.mark.slow
async def test_token_refreshed_mid_run(db):
    async with HeimdallClient(
        URL, username="live-operator", password=os.environ["HEIMDALL_PASSWORD"]
    ) as c:
        assert (await c.auth.me()).username == "live-operator"
        lifetime = c.transport.token_expires_in()
        assert lifetime is not None and lifetime < 30, "run with HEIMDALL_ACCESS_TOKEN_LIFETIME=8"
        first = c.transport._access
        # Proactive: the client refreshes shortly before expiry.
        await asyncio.sleep(lifetime - 1)
        assert (await c.stations.list()).total_count == 10
        assert c.transport.refresh_count == 1 and c.transport._access != first
        # Reactive: the token expired server-side while the client believed it fresh.
        c.transport._expires_at = time.monotonic() + 3600
        await asyncio.sleep(c.transport._lifetime + 1)
        with httpx.Client() as raw:  # the server does refuse that token now
            answer = raw.get(
                f"{URL}/api/v1/auth/me", headers={"Authorization": f"Bearer {c.transport._access}"}
            )
            assert answer.status_code == 401
        assert (await c.auth.me()).username == "live-operator"
        assert c.transport.refresh_count == 2 and c.transport.login_count == 1
