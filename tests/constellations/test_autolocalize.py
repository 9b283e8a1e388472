"""Automatic localization from co-detections: real commits, the in-process task workers,
and the `localization` message on /ws/signals/live (Redis channel layer)."""

import asyncio
import json
import threading
import uuid
from datetime import datetime, timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import RefreshToken

from apps.constellations import autolocalize
from apps.constellations import tasks as constellation_tasks
from apps.constellations.models import AutoLocalizeBacklog, Localization
from apps.constellations.services import share_create
from apps.core.tasks import wait_inprocess_idle
from apps.core.timeutil import utc_now
from heimdall.asgi import application
from tests.constellations import factories
from tests.helpers import make_user
from tests.signals.factories import DetectionFactory
from tests.signals.factories import ingest as store
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
AROUND = ["torino-it", "passo-giovi-it", "milano-it", "montanaro-it", "genova-it"]


@pytest.fixture(autouse=True)
def _in_process_tasks(settings):
    settings.HEIMDALL_TASK_BACKEND = "inprocess"
    settings.HEIMDALL_AUTO_LOCALIZE = True


def world():
    owner = make_user("olga", "operator")
    factories.italian_stations()
    StationFactory(id="twente-nl")  # not a member of anything
    constellation = factories.constellation_of(owner, [r["id"] for r in factories.ITALIAN])
    return owner, constellation


def transmission(station_ids, *, when, frequency_hz=145_500_000, bandwidth=12_500, spread_s=0.5):
    strengths = factories.strengths(station_ids, shadowing_seed=4)
    return [
        DetectionFactory(
            when=when + timedelta(seconds=spread_s * index / max(1, len(station_ids) - 1)),
            websdr_station_id=station_id,
            frequency_hz=frequency_hz + 100 * index,
            signal_strength_db=strengths[station_id],
            bandwidth_hz=bandwidth,
            modulation_type="NFM",
        )
        for index, station_id in enumerate(station_ids)
    ]


def ingest(*items):
    store(*items)
    wait_inprocess_idle()


def test_three_member_stations_give_one_auto_fix_per_transmission():
    _, constellation = world()
    now = utc_now()
    first = transmission(AROUND[:3], when=now)
    ingest(*first)
    fixes = list(Localization.objects.all())
    assert len(fixes) == 1
    fix = fixes[0]
    assert fix.trigger == "auto" and fix.created_by_id is None
    assert fix.constellation_id == constellation.pk
    assert sorted(fix.detection_ids) == sorted(item["id"] for item in first)
    assert fix.receivers_used == AROUND[:3]
    assert fix.tx_power_estimated is True
    # A fourth station's detection of the same transmission, in a later batch: no new fix.
    ingest(*transmission(AROUND[3:4], when=now + timedelta(seconds=0.8)))
    # The carrier goes on: a second later every station hears it again — still one fix,
    # its observed span extended.
    later = now + timedelta(seconds=1.5)
    ingest(*transmission(AROUND, when=later))
    assert Localization.objects.count() == 1
    fix.refresh_from_db()
    assert fix.observed_until >= later
    # A new transmission on another frequency is a new fix.
    ingest(*transmission(AROUND[:3], when=later, frequency_hz=145_600_000))
    assert Localization.objects.count() == 2


def test_what_is_not_a_co_detection_is_not_localized(settings):
    world()
    now = utc_now()
    ingest(*transmission(AROUND[:2], when=now))  # two stations
    spread = transmission(AROUND[:3], when=now + timedelta(seconds=10), spread_s=3.0)
    ingest(*spread)  # three stations, but over 3 s
    apart = transmission(AROUND[:3], when=now + timedelta(seconds=20), bandwidth=2400)
    apart[1]["frequency_hz"] += 1500  # beyond the larger half-bandwidth (1200 Hz)
    ingest(*apart)
    outsider = transmission(AROUND[:2], when=now + timedelta(seconds=30))
    outsider.append({**outsider[0], "id": str(uuid.uuid4()),
                     "websdr_station_id": "twente-nl"})  # fmt: skip
    ingest(*outsider)  # the third station is no member
    settings.HEIMDALL_AUTO_LOCALIZE = False
    ingest(*transmission(AROUND[:3], when=now + timedelta(seconds=40)))
    assert Localization.objects.count() == 0


def test_one_fix_per_constellation_that_heard_it():
    owner, _ = world()
    factories.constellation_of(owner, AROUND[:3], name="Second")
    ingest(*transmission(AROUND[:3], when=utc_now()))
    assert Localization.objects.count() == 2
    assert Localization.objects.values("constellation").distinct().count() == 2


def test_concurrent_tasks_localize_a_transmission_once(settings):
    settings.HEIMDALL_AUTO_LOCALIZE = False  # the test runs the task bodies itself
    world()
    now = utc_now()
    items = transmission(AROUND, when=now)
    store(*items)
    spans = [((now - timedelta(seconds=1)).isoformat(), (now + timedelta(seconds=2)).isoformat())]
    barrier = threading.Barrier(3)
    results = []

    def run():
        from django.db import connection

        barrier.wait()
        try:
            results.append(autolocalize.auto_localize(stations=AROUND, spans=spans))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [0, 0, 1]
    assert Localization.objects.count() == 1


# --- live ------------------------------------------------------------------------------


async def connect(user):
    token = await database_sync_to_async(lambda: str(RefreshToken.for_user(user).access_token))()
    communicator = WebsocketCommunicator(application, f"/ws/signals/live?token={token}")
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def receive(ws, timeout=10):
    return json.loads(await ws.receive_from(timeout=timeout))


async def subscribe(ws, filters=None, expect="subscribed"):
    await ws.send_to(json.dumps({"type": "subscribe", "channels": ["localizations"],
                                 "filters": filters or {}}))  # fmt: skip
    if expect == "error":
        return None
    return await receive(ws)


@pytest.mark.asyncio
async def test_the_localization_message_reaches_readers_only():
    def setup():
        owner, constellation = world()
        viewer = make_user("vera", "viewer")
        share_create(constellation=constellation, user_id=viewer.pk, permission="read",
                     shared_by=owner)  # fmt: skip
        stranger = make_user("sam", "operator")
        return owner, viewer, stranger, constellation

    owner, viewer, stranger, constellation = await database_sync_to_async(setup)()
    reader = await connect(viewer)
    ack = await subscribe(reader, {"constellation_ids": [str(constellation.pk)],
                                   "frequency_range": [144_000_000, 146_000_000]})  # fmt: skip
    assert ack["type"] == "subscribed" and ack["channels"] == ["localizations"]
    other_band = await connect(owner)
    await subscribe(other_band, {"frequency_range": [430_000_000, 440_000_000]})
    outsider = await connect(stranger)
    assert (await subscribe(outsider))["type"] == "subscribed"
    # A stranger may not name the constellation: it reads as unknown.
    await subscribe(outsider, {"constellation_ids": [str(constellation.pk)]}, expect="error")
    error = await receive(outsider)
    assert error["error"]["details"]["field"] == "filters.constellation_ids"

    items = transmission(AROUND[:3], when=utc_now())
    await database_sync_to_async(ingest)(*items)
    message = await receive(reader)
    assert message["type"] == "localization"
    assert message["timestamp"].endswith("Z")
    data = message["data"]
    stored = await database_sync_to_async(Localization.objects.get)()
    assert data["id"] == str(stored.pk)
    assert data["trigger"] == "auto"
    assert data["constellation_id"] == str(constellation.pk)
    assert sorted(data["detection_ids"]) == sorted(item["id"] for item in items)
    assert await outsider.receive_nothing(timeout=0.5)
    assert await other_band.receive_nothing(timeout=0.1)
    for ws in (reader, outsider, other_band):
        await ws.disconnect()


@pytest.mark.asyncio
async def test_access_is_checked_per_event():
    def setup():
        owner, constellation = world()
        viewer = make_user("vera", "viewer")
        share_create(constellation=constellation, user_id=viewer.pk, permission="read",
                     shared_by=owner)  # fmt: skip
        return viewer, constellation

    viewer, constellation = await database_sync_to_async(setup)()
    ws = await connect(viewer)
    await subscribe(ws)
    from apps.constellations.services import share_revoke

    await database_sync_to_async(share_revoke)(constellation=constellation, user_id=viewer.pk)
    await database_sync_to_async(ingest)(*transmission(AROUND[:3], when=utc_now()))
    assert await database_sync_to_async(Localization.objects.count)() == 1
    assert await ws.receive_nothing(timeout=0.5)
    await asyncio.sleep(0)
    await ws.disconnect()


# --- a task that could not be queued ------------------------------------------------------


@pytest.fixture
def refusing_task_runner():
    """The in-process task runner refusing work (shut down), as an unreachable broker
    refuses a task; restored afterwards."""
    from concurrent.futures import ThreadPoolExecutor

    from apps.core import tasks

    stopped = ThreadPoolExecutor(max_workers=1)
    stopped.shutdown()
    saved = tasks._executor
    tasks._executor = stopped
    yield
    tasks._executor = saved


def test_a_task_that_could_not_be_queued_is_kept_in_the_database_and_run_by_the_drain(
    refusing_task_runner,
):
    from apps.core import tasks

    world()
    now = utc_now()
    ingest(*transmission(AROUND[:3], when=now))  # stored; its task refused
    assert Localization.objects.count() == 0
    (kept,) = AutoLocalizeBacklog.objects.all()
    assert kept.stations == sorted(AROUND[:3]) and kept.attempts == 0
    tasks._executor = None  # the runner is back; the periodic drain runs in a worker
    assert constellation_tasks.auto_localize_backlog() == 1
    (fix,) = Localization.objects.all()
    assert (round(fix.frequency_hz, -4), fix.trigger) == (145_500_000, "auto")
    assert not AutoLocalizeBacklog.objects.exists()
    assert constellation_tasks.auto_localize_backlog() == 0  # nothing left, nothing twice
    assert Localization.objects.count() == 1


def stored_only(settings, items):
    """Stored without the automatic localization (as if its task had been lost)."""
    settings.HEIMDALL_AUTO_LOCALIZE = False
    store(*items)
    settings.HEIMDALL_AUTO_LOCALIZE = True
    assert Localization.objects.count() == 0


def test_a_kept_task_that_fails_does_not_hold_up_the_others_and_is_dropped_at_last(settings):
    world()
    now = utc_now()
    stored_only(settings, transmission(AROUND[:3], when=now))
    broken = AutoLocalizeBacklog.objects.create(stations=AROUND[:3], spans=[["yesterday", "x"]])
    good = AutoLocalizeBacklog.objects.create(
        stations=AROUND[:3], spans=[[now.isoformat(), (now + timedelta(seconds=1)).isoformat()]]
    )
    assert constellation_tasks.auto_localize_backlog() == 1
    assert Localization.objects.count() == 1
    assert not AutoLocalizeBacklog.objects.filter(pk=good.pk).exists()
    assert AutoLocalizeBacklog.objects.get(pk=broken.pk).attempts == 1
    for attempt in range(2, autolocalize.BACKLOG_ATTEMPTS):
        assert constellation_tasks.auto_localize_backlog() == 0
        assert AutoLocalizeBacklog.objects.get(pk=broken.pk).attempts == attempt
    assert constellation_tasks.auto_localize_backlog() == 0
    assert not AutoLocalizeBacklog.objects.exists()


def test_concurrent_drains_run_a_kept_task_once(settings):
    world()
    now = utc_now()
    stored_only(settings, transmission(AROUND[:3], when=now))
    for n in range(4):  # four kept tasks of one transmission (four refused batches)
        AutoLocalizeBacklog.objects.create(
            stations=AROUND[:3],
            spans=[[now.isoformat(), (now + timedelta(seconds=n)).isoformat()]],
        )
    counts, barrier = [], threading.Barrier(3)

    def drain():
        from django.db import connection

        barrier.wait()
        try:
            counts.append(autolocalize.backlog_drain())
        finally:
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 4
    assert not AutoLocalizeBacklog.objects.exists()
    assert Localization.objects.count() == 1  # one transmission, one fix


def test_memberships_unreadable_after_the_commit_still_queue_the_task(settings):
    """The database connection lost between the ingest's commit and the hook (a collector
    during an outage): the memberships cannot be read, so the task is queued for every
    station of the batch (it reads them itself) — not lost, no traceback logged."""
    import psycopg
    from django.db import connection

    from tests.helpers import database_url

    world()
    now = utc_now()
    items = transmission(AROUND[:3], when=now)
    stored_only(settings, items)
    autolocalize.forget_members()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    with psycopg.connect(database_url(connection.settings_dict), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    rows = [{"websdr_station_id": item["websdr_station_id"],
             "detection_timestamp": datetime.fromisoformat(item["detection_timestamp"])}
            for item in items]  # fmt: skip
    autolocalize.on_detections_stored(rows=rows)  # this thread's connection is gone
    wait_inprocess_idle()  # the task ran on its own connection
    connection.close()
    assert Localization.objects.count() == 1


def test_the_database_lost_right_after_the_ingest_commit_logs_no_traceback(caplog):
    """What CI saw once in the collector's outage test: the commit made, then the
    database gone before the commit hooks ran — the stations' stamp and the memberships'
    read failed, each logged by Django as an error with a traceback. Now a warning (the
    memberships' case: the test above), and the automatic localization still made."""
    import logging

    import psycopg
    from django.db import connection, transaction

    from tests.helpers import database_url

    world()
    autolocalize.forget_members()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()

    def database_gone():
        with psycopg.connect(database_url(connection.settings_dict), autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [pid])

    caplog.set_level(logging.WARNING)
    with transaction.atomic():
        transaction.on_commit(database_gone)  # runs first of the commit hooks
        store(*transmission(AROUND[:3], when=utc_now()))
    wait_inprocess_idle()
    connection.close()
    assert [r for r in caplog.records if r.exc_info] == []
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert (
        "the stations' last_seen (the next batch's): not done after the commit "
        "(database_unavailable)" in warned
    )
    assert Localization.objects.count() == 1  # the next hook had a connection again


def test_broker_and_database_both_unreachable_hold_the_task_for_the_next_batch(
    settings, console_log
):
    """What CI's collector outage test saw: the database gone right after an ingest's
    commit, so neither the broker (its hook needs the connection) nor the backlog table
    took the task, each logged with a traceback and the fix lost. Now two warning lines
    naming the outage, the task held in the process and handed on with the next batch."""
    from django.db import connection

    from tests.servers import free_port

    world()
    now = utc_now()
    items = transmission(AROUND[:3], when=now)
    stored_only(settings, items)
    autolocalize.forget_members()
    autolocalize.member_station_ids()  # cached, as in a running collector
    rows = [{"websdr_station_id": item["websdr_station_id"],
             "detection_timestamp": datetime.fromisoformat(item["detection_timestamp"])}
            for item in items]  # fmt: skip
    saved = connection.settings_dict["HOST"], connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))  # refused
    try:
        autolocalize.on_detections_stored(rows=rows)
    finally:
        connection.close()
        connection.settings_dict["HOST"], connection.settings_dict["PORT"] = saved
    assert autolocalize.held_tasks() == 1
    assert [line.split(" ", 2)[2] for line in console_log.getvalue().splitlines()] == [
        "WARNING apps.constellations.autolocalize [- -] could not queue automatic "
        "localization; keeping it (database_unavailable)",
        "WARNING apps.constellations.autolocalize [- -] could not keep automatic "
        "localization in the backlog; held here (database_unavailable)",
    ]
    assert not AutoLocalizeBacklog.objects.exists() and Localization.objects.count() == 0
    # The next batch, after the outage (here only a non-member's detection): the held
    # task goes first.
    autolocalize.on_detections_stored(
        rows=[{"websdr_station_id": "twente-nl", "detection_timestamp": now}]
    )
    wait_inprocess_idle()
    assert autolocalize.held_tasks() == 0
    (fix,) = Localization.objects.all()
    assert sorted(fix.detection_ids) == sorted(item["id"] for item in items)
