"""Faults that live on the wire, against a real daphne process on PostgreSQL and Redis.

- a client that stops reading the live feed: bounded server memory, closed;
- forwarded headers: a new X-Forwarded-For per request reaches no new budget,
  and daphne's --proxy-headers (which would believe them) is refused;
- an open socket closes with 4401 when its token expires.
"""

import asyncio
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
import websockets
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from apps.core.timeutil import isoformat_z, utc_now
from apps.signals import live
from tests.helpers import database_url, make_user
from tests.signals.factories import DetectionFactory

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def start_daphne(*extra_args, **env_extra):
    port = _free_port()
    url = await sync_to_async(lambda: database_url(connection.settings_dict))()
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_ALLOWED_HOSTS": "127.0.0.1", **env_extra}
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the server (stop)
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), *extra_args,
         "heimdall.asgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    server.log = log
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server, port
        except OSError:
            await asyncio.sleep(0.2)
    return server, port


def stop(server):
    if os.environ.get("HEIMDALL_TEST_SHOW_SERVER_LOG"):
        server.log.seek(0)
        print(server.log.read().decode(errors="replace")[-5000:])
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    server.log.close()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def ws_frame(text: str) -> bytes:
    """One masked text frame, as a client sends it (RFC 6455 §5.2)."""
    payload = text.encode()
    mask = os.urandom(4)
    header = bytes([0x81])
    length = len(payload)
    if length < 126:
        header += bytes([0x80 | length])
    else:
        header += bytes([0x80 | 126]) + struct.pack("!H", length)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def open_raw_socket(port: int, path: str) -> socket.socket:
    """A WebSocket opened by hand, with a small receive buffer: a client we can stop reading."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
         "Sec-WebSocket-Version: 13\r\n\r\n").encode()
    )  # fmt: skip
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


def items_batch(count: int) -> list[dict]:
    now = utc_now()
    return [
        live.detection_payload({**DetectionFactory(when=now), "id": f"{i:08d}-stall",
                                "detection_timestamp": now, "is_anomaly": False})
        for i in range(count)
    ]  # fmt: skip


async def test_a_client_that_stops_reading_costs_a_bounded_amount_and_is_closed():
    token = await sync_to_async(lambda: str(AccessToken.for_user(make_user("vera", "viewer"))))()
    server, port = await start_daphne(HEIMDALL_WS_STALL_SECONDS="4")
    try:
        # One reading client first, so the process's caches and pools are warm.
        reader = await websockets.connect(f"ws://127.0.0.1:{port}/ws/signals/live?token={token}")
        await reader.send(json.dumps({"type": "subscribe", "channels": ["signal_detections"]}))
        assert json.loads(await reader.recv())["type"] == "subscribed"
        layer = get_channel_layer()
        batch = items_batch(500)
        sent_at = isoformat_z(utc_now())  # one sent_at: the same 500 frames, cached once
        message = {"type": "live.detections", "items": batch, "sent_at": sent_at}
        frame_bytes = len(json.dumps({"type": "signal_detection", "data": batch[0],
                                      "timestamp": sent_at}))  # fmt: skip
        await layer.group_send(live.DETECTIONS_ALL, message)
        for _ in range(500):
            await asyncio.wait_for(reader.recv(), 10)
        await reader.close()

        stalled = await asyncio.to_thread(open_raw_socket, port, f"/ws/signals/live?token={token}")
        stalled.sendall(ws_frame(json.dumps({"type": "subscribe",
                                             "channels": ["signal_detections"]})))  # fmt: skip
        await asyncio.sleep(0.5)  # the subscription is processed (its ack stays unread)
        before = rss_bytes(server.pid)
        rounds = 120  # 60,000 frames, ~20 MB: what the client would have to read
        for _ in range(rounds):
            await layer.group_send(live.DETECTIONS_ALL, message)
            await asyncio.sleep(0.02)
        await asyncio.sleep(1)
        grown = rss_bytes(server.pid) - before
        print(f"offered {rounds * 500} frames; daphne grew {grown / 2**20:.2f} MiB")
        offered = rounds * len(batch) * frame_bytes
        assert offered > 15 * 2**20
        # The server holds at most the outbox (1 MiB) plus the transport's 64 KiB, not
        # what was offered (before flow control: all of it, ~42 MB for a busy feed).
        assert grown < 4 * 2**20, f"daphne grew {grown / 2**20:.1f} MiB for a stalled client"

        # Still not reading while the feed goes on: once the kernel's buffers are full
        # the transport stays paused, and after HEIMDALL_WS_STALL_SECONDS with frames
        # waiting the server ends the socket (4408, then drops the connection).
        for _ in range(40):
            await layer.group_send(live.DETECTIONS_ALL, message)
            await asyncio.sleep(0.2)
        stalled.settimeout(10)
        received, reset = 0, False
        try:
            while chunk := await asyncio.to_thread(stalled.recv, 65536):
                received += len(chunk)
        except ConnectionResetError:
            reset = True
        stalled.close()
        assert received < offered / 2  # the flood was dropped, not queued for it
        server.log.seek(0)
        assert b"closing a WebSocket that has not read for 4 s" in server.log.read(), reset
    finally:
        stop(server)


async def test_a_socket_closes_4401_on_the_wire_when_its_token_expires():
    user = await sync_to_async(make_user)("vera", "viewer")
    server, port = await start_daphne()
    try:
        access = AccessToken.for_user(user)
        access.set_exp(lifetime=timedelta(seconds=3))
        raw = str(access)
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/signals/live?token={raw}") as ws:
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await ws.recv())["type"] == "pong"
            frame = json.loads(await asyncio.wait_for(ws.recv(), 6))
            assert (frame["type"], frame["error"]["code"]) == ("error", "INVALID_TOKEN")
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd.code == 4401
    finally:
        stop(server)


def _login(port: int, forwarded_for: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/auth/login",
        data=json.dumps({"username": "vera", "password": "wrong"}).encode(),
        headers={"Content-Type": "application/json", "X-Forwarded-For": forwarded_for},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


async def test_a_new_x_forwarded_for_per_request_gets_no_new_login_budget():
    await sync_to_async(make_user)("vera", "viewer")
    server, port = await start_daphne(HEIMDALL_RATE_LIMIT_LOGIN_USERNAME="3/hour")
    try:
        statuses = [await asyncio.to_thread(_login, port, f"10.0.0.{index}") for index in range(5)]
        assert statuses == [401, 401, 401, 429, 429]
    finally:
        stop(server)


async def test_daphne_with_proxy_headers_refuses_to_start():
    server, _ = await start_daphne("--proxy-headers")
    try:
        returncode = await asyncio.to_thread(server.wait, timeout=30)
    finally:
        if server.poll() is None:
            stop(server)
    assert returncode != 0
    server.log.seek(0)
    assert b"HEIMDALL_TRUSTED_PROXIES" in server.log.read()
