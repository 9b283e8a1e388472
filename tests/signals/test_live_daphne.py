"""The live feed end to end: a real daphne process, Redis, HTTP ingest, a WebSocket client."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.db import connection
from rest_framework_simplejwt.tokens import RefreshToken

from apps.core.timeutil import utc_now
from tests.helpers import async_wait_for, database_url, make_user
from tests.signals.factories import DetectionFactory
from tests.stations.factories import StationFactory

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


async def test_ingest_over_http_reaches_a_websocket_client_through_redis():
    def setup():
        StationFactory(id="twente-nl")
        operator = make_user("otto", "operator")
        return str(RefreshToken.for_user(operator).access_token)

    token = await sync_to_async(setup)()
    port = _free_port()
    url = await sync_to_async(lambda: database_url(connection.settings_dict))()
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_ALLOWED_HOSTS": "127.0.0.1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "heimdall.asgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        ws = await async_wait_for(
            lambda: websockets.connect(f"ws://127.0.0.1:{port}/ws/signals/live?token={token}"),
            30,
            what="daphne accepting the live socket",
        )
        await ws.send(json.dumps({"type": "subscribe", "channels": ["signal_detections"]}))
        assert json.loads(await ws.recv())["type"] == "subscribed"

        item = DetectionFactory(when=utc_now())
        body = json.dumps({"detections": [item]}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/signals/detections", data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )  # fmt: skip
        started = time.monotonic()
        response = await asyncio.to_thread(urllib.request.urlopen, request, timeout=10)
        assert response.status == 201
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert message["type"] == "signal_detection"
        assert message["data"]["id"] == item["id"]
        assert time.monotonic() - started < 5
        await ws.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
