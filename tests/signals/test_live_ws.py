"""/ws/signals/live through the real ASGI stack (auth middleware, routing) on Redis."""

import asyncio
import json
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import RefreshToken

from apps.core.timeutil import utc_now
from heimdall.asgi import application
from tests.helpers import make_user
from tests.signals.factories import DetectionFactory, ingest
from tests.stations.factories import StationFactory

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@database_sync_to_async
def setup_world():
    StationFactory(id="twente-nl")
    StationFactory(id="hackgreen-uk")
    viewer = make_user("vera", "viewer")
    collector = make_user("collector-1", "collector")
    return str(RefreshToken.for_user(viewer).access_token), str(
        RefreshToken.for_user(collector).access_token
    )


async def connect(path: str, headers=None):
    communicator = WebsocketCommunicator(application, path, headers=headers or [])
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def close_code(communicator) -> int:
    message = await communicator.receive_output(timeout=5)
    assert message["type"] == "websocket.close"
    return message["code"]


async def receive(communicator, timeout=5):
    return json.loads(await communicator.receive_from(timeout=timeout))


async def subscribe(communicator, channels, filters=None):
    await communicator.send_to(json.dumps({"type": "subscribe", "channels": channels,
                                           "filters": filters or {}}))  # fmt: skip
    ack = await receive(communicator)
    assert ack["type"] == "subscribed", ack
    return ack


async def test_missing_and_bad_tokens_close_4401():
    await setup_world()
    assert await close_code(await connect("/ws/signals/live")) == 4401
    assert await close_code(await connect("/ws/signals/live?token=not-a-jwt")) == 4401


async def test_role_without_read_closes_4403():
    _, collector_token = await setup_world()
    assert await close_code(await connect(f"/ws/signals/live?token={collector_token}")) == 4403


async def test_detections_filtered_by_station_and_frequency():
    token, _ = await setup_world()
    ws = await connect(f"/ws/signals/live?token={token}")
    filters = {"station_ids": ["twente-nl"], "frequency_range": [14_000_000, 15_000_000]}
    ack = await subscribe(ws, ["signal_detections"], filters)
    assert ack["filters"]["station_ids"] == ["twente-nl"]
    now = utc_now()
    wanted = DetectionFactory(when=now, frequency_hz=14_235_000)
    other_band = DetectionFactory(when=now, frequency_hz=7_100_000)
    other_station = DetectionFactory(
        when=now, websdr_station_id="hackgreen-uk", frequency_hz=14_100_000
    )
    await database_sync_to_async(ingest)(wanted, other_band, other_station)
    message = await receive(ws)
    assert message["type"] == "signal_detection"
    assert message["data"]["id"] == wanted["id"]
    assert message["data"]["websdr_station_id"] == "twente-nl"
    assert message["data"]["frequency_hz"] == 14_235_000
    assert message["data"]["signal_strength_db"] == -73.5
    assert message["data"]["detection_timestamp"].endswith("Z")
    assert message["timestamp"].endswith("Z")
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


async def test_anomaly_alerts_with_severity_filter():
    token, _ = await setup_world()
    ws = await connect(f"/ws/signals/live?token={token}")
    await subscribe(ws, ["anomaly_alerts"], {"severity": ["high", "critical"],
                                             "stations": ["twente-nl"]})  # fmt: skip
    now = utc_now()
    medium = DetectionFactory(when=now, anomaly_score=0.75)
    critical = DetectionFactory(when=now - timedelta(seconds=1), anomaly_score=0.99)
    await database_sync_to_async(ingest)(medium, critical)
    message = await receive(ws)
    assert message["type"] == "anomaly_alert"
    assert message["data"]["severity"] == "critical"
    assert message["data"]["detection_id"] == critical["id"]
    assert message["data"]["station_id"] == "twente-nl"
    assert message["data"]["anomaly_score"] == 0.99
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


async def test_system_status_snapshot_on_subscribe_and_on_change(admin_user):
    token, _ = await setup_world()
    ws = await connect(f"/ws/signals/live?token={token}")
    await subscribe(ws, ["system_status"])
    snapshot = await receive(ws)
    assert snapshot["type"] == "system_status"
    assert snapshot["data"]["station_status"] == {"hackgreen-uk": "active", "twente-nl": "active"}
    assert set(snapshot["data"]["services"]) == {"websdr_collectors", "signal_processor",
                                                 "ml_detector"}  # fmt: skip

    from apps.stations.models import Station
    from apps.stations.services import station_update

    def retire():
        station_update(station=Station.objects.get(pk="twente-nl"), status="maintenance")

    await database_sync_to_async(retire)()
    change = await receive(ws)
    assert change["type"] == "system_status"
    assert change["data"]["station_status"]["twente-nl"] == "maintenance"
    await ws.disconnect()


async def test_malformed_messages_get_error_frames_and_the_socket_stays():
    token, _ = await setup_world()
    ws = await connect(f"/ws/signals/live?token={token}")
    cases = [
        ("{not json", "body"),
        (json.dumps({"type": "dance"}), "type"),
        (json.dumps({"type": "subscribe", "channels": ["weather"]}), "channels"),
        (json.dumps({"type": "subscribe", "channels": ["signal_detections"],
                     "filters": {"frequency_range": [5, 1]}}), "filters.frequency_range"),
        (json.dumps({"type": "subscribe", "channels": ["signal_detections"],
                     "filters": {"station_ids": ["nowhere"]}}), "filters.station_ids"),
        (json.dumps({"type": "subscribe", "channels": ["anomaly_alerts"],
                     "filters": {"anomaly_threshold": 3}}), "filters.anomaly_threshold"),
    ]  # fmt: skip
    for text, field in cases:
        await ws.send_to(text)
        frame = await receive(ws)
        assert frame["type"] == "error"
        assert frame["error"]["code"] == "VALIDATION_ERROR"
        assert frame["error"]["details"]["field"] == field
    await ws.send_to(json.dumps({"type": "ping"}))
    assert (await receive(ws))["type"] == "pong"
    await ws.disconnect()


async def test_unsubscribe_stops_delivery():
    token, _ = await setup_world()
    ws = await connect(f"/ws/signals/live?token={token}")
    await subscribe(ws, ["signal_detections"])
    await ws.send_to(json.dumps({"type": "unsubscribe", "channels": ["signal_detections"]}))
    assert (await receive(ws))["type"] == "unsubscribed"
    await database_sync_to_async(ingest)(DetectionFactory(when=utc_now()))
    assert await ws.receive_nothing(timeout=0.5)
    await ws.disconnect()


async def test_a_client_that_falls_behind_loses_the_oldest_and_is_told(settings):
    settings.HEIMDALL_WS_QUEUE_LIMIT = 5
    token, _ = await setup_world()
    ws = await connect(f"/ws/signals/live?token={token}")
    await subscribe(ws, ["signal_detections"])
    now = utc_now()
    items = [DetectionFactory(when=now - timedelta(seconds=i)) for i in range(20)]
    await database_sync_to_async(ingest)(*items)
    dropped = await receive(ws)
    assert dropped == {"type": "messages_dropped", "count": 15, "source": "outbox",
                       "timestamp": dropped["timestamp"]}  # fmt: skip
    delivered = [(await receive(ws))["data"]["id"] for _ in range(5)]
    assert delivered == [item["id"] for item in items[15:]]  # the newest five
    await ws.disconnect()


async def test_session_cookie_needs_an_allowed_origin(settings):
    from django.test import Client

    await setup_world()

    def session_cookie():
        client = Client()
        assert client.login(username="vera", password="correct-horse-battery-staple")
        return client.cookies["sessionid"].value

    cookie = await database_sync_to_async(session_cookie)()
    cookie_header = (b"cookie", f"sessionid={cookie}".encode())
    assert await close_code(await connect("/ws/signals/live", [cookie_header])) == 4401
    evil = [cookie_header, (b"origin", b"https://evil.example")]
    assert await close_code(await connect("/ws/signals/live", evil)) == 4401
    # The Origin must be the socket's own (scheme, host and port) or a trusted origin.
    host = (b"host", b"localhost:8000")
    for origin in (b"http://localhost", b"https://localhost:8000", b"http://localhost:8001",
                   b"http://evil.example:8000", b"null"):  # fmt: skip
        refused = await connect("/ws/signals/live", [cookie_header, host, (b"origin", origin)])
        assert await close_code(refused) == 4401, origin
    good = await connect(
        "/ws/signals/live", [cookie_header, host, (b"origin", b"http://localhost:8000")]
    )
    await good.send_to(json.dumps({"type": "ping"}))
    assert (await receive(good))["type"] == "pong"
    await good.disconnect()
    await asyncio.sleep(0)


async def test_with_no_live_client_no_payloads_are_built_or_sent():
    """Ingest skips live fan-out work while no client is connected anywhere."""
    from channels.layers import get_channel_layer

    from apps.signals import live

    await setup_world()
    layer = get_channel_layer()
    ingest_one = database_sync_to_async(lambda: ingest(DetectionFactory(when=utc_now())))
    # A listener the key does not know of (added straight to the group).
    unknown = await layer.new_channel()
    await layer.group_add(live.DETECTIONS_ALL, unknown)
    await ingest_one()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(unknown), timeout=1.5)
    await layer.group_discard(live.DETECTIONS_ALL, unknown)
    # A fresh channel: a cancelled receive may have dropped the first one's subscription.
    known = await layer.new_channel()
    await layer.group_add(live.DETECTIONS_ALL, known)
    await live.mark_listening()  # what a connecting client does
    await ingest_one()
    message = await asyncio.wait_for(layer.receive(known), timeout=5)
    assert message["type"] == "live.detections"
    await layer.group_discard(live.DETECTIONS_ALL, known)
