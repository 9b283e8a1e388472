"""Anomaly events that an operator can live with (issue 17 part 5): a continuing anomaly on
one station and channel updates one open event, replayed from a recorded stream."""

import asyncio
import json
import threading
import uuid
from datetime import datetime, timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection, transaction
from rest_framework_simplejwt.tokens import RefreshToken

from apps.anomalies.models import AnomalyEvent
from apps.anomalies.services import (
    anomaly_acknowledge,
    anomaly_events_close_quiet,
    anomaly_events_record,
)
from apps.core.timeutil import utc_now
from heimdall.asgi import application
from tests.helpers import make_user, yesterday_noon
from tests.signals.factories import DetectionFactory, ingest
from tests.stations.factories import StationFactory

# Not a fixed date: 90 days on (HEIMDALL_DETECTION_RETENTION_DAYS) ingest refuses it.
T0 = yesterday_noon()
CARRIER = 145_509_000  # the demo's persistent carrier
# A 7.5-minute carrier, one detection every 30 s, growing more unusual:
# low ×4, medium ×4, high ×4, critical ×4.
SCORES = [0.6] * 4 + [0.75] * 4 + [0.9] * 4 + [0.97] * 4


def vhf_station():
    return StationFactory(id="vhf-1", frequency_min=144_000_000, frequency_max=146_000_000)


def stream(start=T0, scores=SCORES, frequency=CARRIER, every_s=30):
    return [
        DetectionFactory(
            when=start + timedelta(seconds=every_s * i),
            websdr_station_id="vhf-1",
            frequency_hz=frequency + (i % 3) * 40,  # the estimate wanders by tens of Hz
            modulation_type="FM",
            bandwidth_hz=12_000,
            anomaly_score=score,
        )
        for i, score in enumerate(scores)
    ]


def replay(items, batch=4):
    for start in range(0, len(items), batch):
        ingest(*items[start : start + batch])


@pytest.mark.django_db
def test_replayed_carrier_updates_one_event():
    vhf_station()
    items = stream()
    replay(items)
    other = DetectionFactory(when=T0, websdr_station_id="vhf-1", frequency_hz=145_600_000,
                             anomaly_score=0.8)  # fmt: skip
    ingest(other)
    assert AnomalyEvent.objects.count() == 2
    event = AnomalyEvent.objects.get(channel_hz=145_512_500)
    assert event.is_open is True
    assert event.detection_id == uuid.UUID(items[0]["id"])
    assert event.detection_count == 16
    assert event.first_seen == T0
    assert event.last_seen == T0 + timedelta(seconds=450)
    assert event.peak_score == 0.97
    assert event.anomaly_score == 0.97
    assert event.severity == "critical"
    assert event.metadata["duration_seconds"] == 450.0
    assert event.metadata["detection_count"] == 16
    assert event.metadata["first_seen"] == T0.strftime("%Y-%m-%dT12:00:00Z")
    assert event.metadata["last_seen"] == T0.strftime("%Y-%m-%dT12:07:30Z")
    assert event.metadata["peak_score"] == 0.97
    assert event.metadata["last_detection_id"] == items[-1]["id"]
    assert event.metadata["affected_frequencies"] == [145_509_000, 145_509_080 + 12_000]
    second = AnomalyEvent.objects.get(channel_hz=145_600_000)
    assert (second.detection_count, second.severity) == (1, "medium")


@pytest.mark.django_db
@pytest.mark.parametrize("batch", [1, 3, 100])
def test_a_quiet_channel_closes_its_event(settings, batch):
    settings.HEIMDALL_ANOMALY_EVENT_QUIET_SECONDS = 600
    vhf_station()
    items = stream(scores=[0.6, 0.6, 0.6], every_s=300)  # 0 s, 300 s, 600 s: one event
    items += stream(start=T0 + timedelta(seconds=1201), scores=[0.7, 0.7])  # 601 s quiet
    replay(items, batch=batch)
    events = list(AnomalyEvent.objects.order_by("first_seen"))
    assert [(e.detection_count, e.is_open) for e in events] == [(3, False), (2, True)]
    assert events[0].metadata["duration_seconds"] == 600.0
    assert events[1].first_seen == T0 + timedelta(seconds=1201)
    assert events[1].detection_id == uuid.UUID(items[3]["id"])


@pytest.mark.django_db
def test_periodic_close(settings):
    """Quiet for the quiet time in detection time and on the wall clock (no detection has
    joined the event since): closed."""
    settings.HEIMDALL_ANOMALY_EVENT_QUIET_SECONDS = 600
    vhf_station()
    start = utc_now().replace(microsecond=0) - timedelta(seconds=30)
    ingest(*stream(start=start, scores=[0.6]))
    joined = AnomalyEvent.objects.get().updated_at
    assert abs((joined - utc_now()).total_seconds()) < 60
    assert anomaly_events_close_quiet(now=start + timedelta(seconds=600)) == 0
    assert anomaly_events_close_quiet(now=joined + timedelta(seconds=600)) == 0
    assert anomaly_events_close_quiet(now=joined + timedelta(seconds=601)) == 1
    assert AnomalyEvent.objects.get().is_open is False
    ingest(*stream(start=start + timedelta(seconds=60), scores=[0.6]))  # after closing: new
    assert AnomalyEvent.objects.filter(is_open=True).count() == 1
    assert AnomalyEvent.objects.count() == 2


@pytest.mark.django_db
def test_a_replayed_recording_is_not_cut_by_the_periodic_close(settings):
    """Detections from the past (an analysed recording) replayed while the periodic close
    runs between batches: one event, one alert when it opened. (The wall clock alone made
    one event per tick: their last_seen is long past.) Once the replay has stopped joining
    it for the quiet time, the periodic close closes it."""
    settings.HEIMDALL_ANOMALY_EVENT_QUIET_SECONDS = 600
    vhf_station()
    items = stream()
    for start in range(0, 16, 4):
        ingest(*items[start : start + 4])
        assert anomaly_events_close_quiet() == 0  # the periodic task, between batches
    events = list(AnomalyEvent.objects.all())
    assert [(e.detection_count, e.is_open, e.severity) for e in events] == [(16, True, "critical")]
    later = events[0].updated_at + timedelta(seconds=601)
    assert anomaly_events_close_quiet(now=later) == 1


def rows(items):
    """Detection rows as the ingest service hands them to anomaly_events_record."""
    return [
        {
            **item,
            "detection_timestamp": datetime.fromisoformat(item["detection_timestamp"]),
        }
        for item in items
    ]


@pytest.mark.django_db
def test_alerts_on_open_and_escalation_only_and_acknowledged_events_stay_quiet(admin_user):
    vhf_station()
    items = stream()
    alerts = []
    for start in range(0, 16, 2):
        recorded = anomaly_events_record(rows=rows(items[start : start + 2]), station_ranges={})
        alerts += [(start, e.severity) for e in recorded.alerts]
    assert alerts == [(0, "low"), (4, "medium"), (8, "high"), (12, "critical")]

    event = AnomalyEvent.objects.get()
    anomaly_acknowledge(event_id=event.pk, user=admin_user)
    later = stream(start=T0 + timedelta(seconds=480), scores=[0.99, 0.99])
    recorded = anomaly_events_record(rows=rows(later), station_ranges={})
    assert recorded.alerts == []
    event.refresh_from_db()
    assert AnomalyEvent.objects.count() == 1
    assert (event.acknowledged, event.detection_count, event.peak_score) == (True, 18, 0.99)
    assert event.metadata["detections_since_acknowledged"] == 2


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_live_channel_sends_anomaly_alert_when_an_event_opens_or_escalates():
    def world():
        vhf_station()
        return str(RefreshToken.for_user(make_user("vera", "viewer")).access_token)

    token = await database_sync_to_async(world)()
    ws = WebsocketCommunicator(application, f"/ws/signals/live?token={token}")
    assert (await ws.connect())[0]
    await ws.send_to(json.dumps({"type": "subscribe", "channels": ["anomaly_alerts"]}))
    assert json.loads(await ws.receive_from(timeout=5))["type"] == "subscribed"
    await database_sync_to_async(replay)(stream(), 4)
    received = []
    for _ in range(4):
        message = json.loads(await ws.receive_from(timeout=5))
        assert message["type"] == "anomaly_alert"
        received.append((message["data"]["severity"], message["data"]["detection_count"]))
    assert received == [("low", 4), ("medium", 8), ("high", 12), ("critical", 16)]
    assert await ws.receive_nothing(timeout=0.5)
    await ws.disconnect()
    await asyncio.sleep(0)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_ingests_at_once_open_one_event():
    """A holds its new event uncommitted; B, on the same channel, waits on the unique
    constraint, then joins A's event instead of opening a second."""
    vhf_station()
    first, second = stream(scores=[0.6, 0.9])
    a_inserted, outcome = threading.Event(), {}

    def run(name, item, hold):
        try:
            with transaction.atomic():
                outcome[name] = anomaly_events_record(rows=rows([item]), station_ranges={})
                if hold:
                    a_inserted.set()
                    threading.Event().wait(0.5)  # B is now blocked on our insert
        finally:
            connection.close()

    a = threading.Thread(target=run, args=("a", first, True))
    a.start()
    assert a_inserted.wait(5)
    b = threading.Thread(target=run, args=("b", second, False))
    b.start()
    a.join(10)
    b.join(10)
    event = AnomalyEvent.objects.get()
    assert (event.detection_count, event.peak_score, event.severity) == (2, 0.9, "high")
    assert [e.pk for e in outcome["a"].alerts] == [event.pk]
    assert [e.pk for e in outcome["b"].alerts] == [event.pk]  # it escalated low → high


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_ingest_storm_keeps_one_open_event():
    vhf_station()
    items = stream(scores=[0.6] * 12, every_s=5)
    barrier = threading.Barrier(4)

    def run(part):
        try:
            barrier.wait(5)
            for item in part:
                ingest(item)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(items[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    event = AnomalyEvent.objects.get()
    assert event.detection_count == 12
    assert event.first_seen == T0 and event.last_seen == T0 + timedelta(seconds=55)


@pytest.mark.django_db
def test_a_late_old_detection_gets_its_own_closed_event():
    vhf_station()
    ingest(*stream(scores=[0.6, 0.6]))
    old = stream(start=T0 - timedelta(days=1), scores=[0.9, 0.9])
    ingest(*old)
    events = list(AnomalyEvent.objects.order_by("first_seen"))
    assert [(e.detection_count, e.is_open, e.severity) for e in events] == [
        (2, False, "high"),
        (2, True, "low"),
    ]
    assert events[0].detection_id == uuid.UUID(old[0]["id"])
    assert events[0].metadata["duration_seconds"] == 30.0


@pytest.mark.django_db
def test_one_batch_with_late_rows_a_continuation_and_a_gap(settings):
    """Against an open event, one batch holds: two rows a day early (their own closed
    event), one that continues the event, and two after a 30-minute silence (the event
    closes, a new one opens with them): one numpy pass cuts them so."""
    settings.HEIMDALL_ANOMALY_EVENT_QUIET_SECONDS = 600
    vhf_station()
    ingest(*stream(scores=[0.6, 0.6]))  # the open event: T0, T0 + 30 s
    early = stream(start=T0 - timedelta(days=1), scores=[0.9, 0.6], every_s=100)
    going_on = stream(start=T0 + timedelta(seconds=300), scores=[0.75])
    after = stream(start=T0 + timedelta(seconds=2100), scores=[0.6, 0.97], every_s=60)
    batch = [after[1], going_on[0], early[1], after[0], early[0]]  # any order
    recorded = anomaly_events_record(rows=rows(batch), station_ranges={})
    events = list(AnomalyEvent.objects.order_by("first_seen"))
    assert [
        (e.detection_count, e.is_open, e.severity, e.first_seen, e.last_seen) for e in events
    ] == [
        (2, False, "high", T0 - timedelta(days=1), T0 - timedelta(days=1, seconds=-100)),
        (3, False, "medium", T0, T0 + timedelta(seconds=300)),
        (2, True, "critical", T0 + timedelta(seconds=2100), T0 + timedelta(seconds=2160)),
    ]
    assert events[0].detection_id == uuid.UUID(early[0]["id"])
    assert events[2].detection_id == uuid.UUID(after[0]["id"])
    assert events[2].metadata["last_detection_id"] == after[1]["id"]
    assert events[2].metadata["duration_seconds"] == 60.0
    assert events[1].metadata["last_detection_id"] == going_on[0]["id"]
    # Alerts: the new event, and the open one (escalated low → medium); not the past one.
    assert sorted(e.pk for e in recorded.alerts) == sorted([events[1].pk, events[2].pk])


@pytest.mark.django_db
def test_the_api_says_which_events_are_still_open(settings, viewer_client):
    settings.HEIMDALL_ANOMALY_EVENT_QUIET_SECONDS = 600
    vhf_station()
    replay(stream(scores=[0.6, 0.6]) + stream(start=T0 + timedelta(seconds=1201), scores=[0.7]))
    body = viewer_client.get("/api/v1/anomalies", {"is_open": "true"}).json()
    assert [(e["is_open"], e["detection_count"]) for e in body["data"]] == [(True, 1)]
    closed = viewer_client.get("/api/v1/anomalies", {"is_open": "false"}).json()["data"]
    assert [(e["is_open"], e["detection_count"]) for e in closed] == [(False, 2)]
    assert viewer_client.get("/api/v1/anomalies", {"is_open": "maybe"}).status_code == 400
