"""Outages seen from inside a process: what counts as one, the events publisher, forked children."""

import asyncio
import json
import logging
import os
import sqlite3
import subprocess
import sys
import time

import psycopg
import psycopg_pool
import pytest
import redis
from django.db import OperationalError

from apps.core import events
from apps.core.outages import unavailable_reason
from tests.servers import ROOT, TcpProxy


def _wrapped(inner: Exception) -> Exception:
    """As Django raises it: its own OperationalError, the driver's error as the cause."""
    try:
        try:
            raise inner
        except Exception as exc:
            raise OperationalError(str(exc)) from exc
    except OperationalError as outer:
        return outer


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (psycopg.OperationalError("connection failed: Connection refused"), "database_unavailable"),
        (psycopg.errors.AdminShutdown("terminating connection"), "database_unavailable"),
        (psycopg.errors.TooManyConnections("sorry, too many clients"), "database_unavailable"),
        (sqlite3.OperationalError("database is locked"), "database_busy"),
        # Rolled back by the server: the same request again succeeds -> 503 + Retry-After.
        (psycopg.errors.DeadlockDetected("deadlock detected"), "database_busy"),
        (psycopg.errors.SerializationFailure("could not serialize access"), "database_busy"),
        (psycopg.errors.LockNotAvailable("could not obtain lock"), "database_busy"),
        (redis.ConnectionError("Connection refused"), "redis_unavailable"),
        (psycopg.errors.UniqueViolation("duplicate key"), None),
        (psycopg.errors.QueryCanceled("statement timeout"), None),
        (sqlite3.OperationalError("no such table: x"), None),
        (ValueError("database is locked"), None),
    ],
)
def test_outages_are_told_apart_from_real_errors(error, reason):
    assert unavailable_reason(_wrapped(error)) == reason


def test_a_bug_raised_while_handling_an_outage_is_the_bug():
    """A programming error in an outage's fallback (or a real error raised from one) is a
    real error: the console keeps its traceback, not one WARNING line naming the outage."""
    try:
        try:
            raise redis.ConnectionError("Connection refused")
        except redis.ConnectionError:
            {}["missing"]  # a bug in the fallback: KeyError, context the outage
    except KeyError as exc:
        implicit = exc
    try:
        try:
            raise _wrapped(psycopg.OperationalError("refused"))
        except OperationalError as exc:
            raise ValueError("bad data") from exc
    except ValueError as exc:
        explicit = exc
    assert unavailable_reason(implicit) is None
    assert unavailable_reason(explicit) is None
    # An outage raised while handling a bug is still the outage.
    try:
        try:
            raise TypeError("a bug")
        except TypeError:
            raise redis.ConnectionError("Connection refused") from None
    except redis.ConnectionError as exc:
        assert unavailable_reason(exc) == "redis_unavailable"


def test_the_console_keeps_the_traceback_of_a_bug_in_an_outage_fallback(console_log):
    try:
        try:
            raise redis.ConnectionError("Connection refused")
        except redis.ConnectionError:
            {}["missing"]
    except KeyError:
        logging.getLogger("apps.core.events").exception("fallback failed")
    lines = console_log.getvalue().splitlines()
    assert lines[0].split(" ", 2)[2] == "ERROR apps.core.events [- -] fallback failed"
    assert lines[-1] == "KeyError: 'missing'"


def test_a_pool_timeout_without_a_pool_counts_as_exhaustion():
    # The test process has no pool (one-off command): nothing says the server is down.
    assert unavailable_reason(_wrapped(psycopg_pool.PoolTimeout("timeout"))) == (
        "database_pool_exhausted"
    )


def test_an_outage_is_one_log_line_and_any_other_error_keeps_its_traceback(console_log):
    """The console handler's OutageFilter, for every logger (libraries' too): an outage
    is expected in a long-running process (one warning naming the reason), a bug is not."""
    for name, error in [
        ("channels_redis.pubsub", redis.ConnectionError("Connection closed by server.")),
        ("apps.constellations.autolocalize", _wrapped(psycopg.OperationalError("refused"))),
        ("django.db.backends.base", ValueError("a bug")),
    ]:
        try:
            raise error
        except Exception:
            logging.getLogger(name).exception("could not do %s", "it")
    lines = console_log.getvalue().splitlines()
    assert [line.split(" ", 2)[2] for line in lines[:2]] == [
        "WARNING channels_redis.pubsub [- -] could not do it (redis_unavailable)",
        "WARNING apps.constellations.autolocalize [- -] could not do it (database_unavailable)",
    ]
    assert lines[2].split(" ", 2)[2] == "ERROR django.db.backends.base [- -] could not do it"
    assert lines[3] == "Traceback (most recent call last):" and lines[-1] == "ValueError: a bug"


@pytest.mark.slow
def test_events_publisher_survives_a_redis_outage(settings, caplog, console_log):
    """The publisher thread's channel layer reconnects; sends during the outage are dropped."""
    url = redis.Redis.from_url(os.environ["REDIS_URL"]).connection_pool.connection_kwargs
    proxy = TcpProxy(url.get("host", "127.0.0.1"), int(url.get("port", 6379)))
    proxy.up()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [f"redis://127.0.0.1:{proxy.port}/{url.get('db', 0)}"],
                "prefix": f"outage-{os.getpid()}",
            },
        }
    }
    from channels.layers import get_channel_layer

    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add("outage.test", channel)
        receiving = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(events.send_now, [("outage.test", {"type": "x", "n": 1})])
        assert (await asyncio.wait_for(receiving, 10))["n"] == 1

        proxy.down()
        started = time.monotonic()
        # Best effort: logged, never raised, never longer than its own bound.
        await asyncio.to_thread(events.send_now, [("outage.test", {"type": "x", "n": 2})])
        assert time.monotonic() - started < 15
        proxy.up()

        receiving = asyncio.ensure_future(layer.receive(channel))
        deadline = time.monotonic() + 30
        got = None
        while time.monotonic() < deadline and got is None:
            await asyncio.to_thread(events.send_now, [("outage.test", {"type": "x", "n": 3})])
            done, _ = await asyncio.wait({receiving}, timeout=1)
            if done:
                got = receiving.result()
        assert got is not None and got["n"] == 3
        await layer.flush()

    try:
        asyncio.run(scenario())
    finally:
        proxy.down()
    assert "could not publish" in caplog.text
    # An outage is expected: told in one line each, no traceback in the process's log
    # (channels_redis's receive task logged one each time before).
    assert "(redis_unavailable)" in console_log.getvalue()
    assert "Traceback" not in console_log.getvalue()


FORK_PROBE = """
import json, os
import django
django.setup()
from django.db import connection

def backend_pid():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]

parent = backend_pid()
read, write = os.pipe()
child = os.fork()
if child == 0:
    os.write(write, json.dumps(backend_pid()).encode())
    os._exit(0)
os.waitpid(child, 0)
print(json.dumps({"parent": parent, "child": json.loads(os.read(read, 64)),
                  "parent_again": backend_pid()}))
"""


@pytest.mark.django_db
def test_a_forked_child_opens_its_own_pooled_connection():
    """django-q2 forks its workers: a child must never talk on its parent's socket."""
    from django.db import connection

    from tests.helpers import database_url

    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "HEIMDALL_PROCESS": "worker",
        "DJANGO_SETTINGS_MODULE": "heimdall.settings",
    }
    out = subprocess.run(
        [sys.executable, "-c", FORK_PROBE],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    pids = json.loads(out.stdout.strip().splitlines()[-1])
    assert pids["child"] != pids["parent"]
    assert pids["parent_again"] == pids["parent"]  # the parent's connection still works


async def _operator_token() -> str:
    from asgiref.sync import sync_to_async
    from rest_framework_simplejwt.tokens import RefreshToken

    from tests.helpers import make_user

    return await sync_to_async(
        lambda: str(RefreshToken.for_user(make_user("otto", "operator")).access_token)
    )()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_a_websocket_without_its_channel_layer_is_closed_4503(settings):
    """Redis down when the socket opens: the consumer cannot receive events; 4503, not 1011."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},  # nothing listens there
        }
    }
    from channels.testing import WebsocketCommunicator

    from heimdall.asgi import application

    token = await _operator_token()
    ws = WebsocketCommunicator(application, f"/ws/signals/live?token={token}")
    await ws.connect()
    closed = await ws.receive_output(timeout=10)
    while closed["type"] != "websocket.close":
        closed = await ws.receive_output(timeout=10)
    assert closed["code"] == 4503


def test_a_batch_that_could_not_be_scheduled_is_counted_as_dropped(monkeypatch):
    """send_later whose loop refuses the send (closed): the batch was lost uncounted, so
    the sockets were never told; now counted like the other drops, its slot freed."""
    closed = asyncio.new_event_loop()
    closed.close()
    monkeypatch.setattr(events, "_main_loop", None)
    monkeypatch.setattr(events, "_publisher", (os.getpid(), closed))
    monkeypatch.setattr(events, "_dropped", 0)
    events.send_later(lambda: [("signals.live", {"type": "signal.detection", "data": {}})])
    assert events._dropped == 1
    for _ in range(events.MAX_BACKLOG):  # every slot free again
        assert events._backlog.acquire(blocking=False)
    for _ in range(events.MAX_BACKLOG):
        events._backlog.release()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_task_whose_connection_is_terminated_runs_again(tmp_path, console_log):
    """Every task runs through apps.core.tasks.run (workers and the in-process pool): the
    server ending its connection mid-task is waited out and the task run again, in one
    warning line, instead of a failure with a traceback and the work lost."""
    from apps.core.tasks import run

    runs = tmp_path / "runs"
    assert run("tests.core.outage_tasks.end_own_connection_once", str(runs)) == "done"
    assert runs.read_text().splitlines() == ["started", "started", "done"]
    assert [line.split(" ", 2)[2] for line in console_log.getvalue().splitlines()] == [
        "WARNING apps.core.tasks [- -] task tests.core.outage_tasks.end_own_connection_once: "
        "interrupted (database_unavailable); running it again once it answers"
    ]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_task_failing_at_once_on_every_run_is_not_rerun_in_a_hot_loop(monkeypatch):
    """The probe (SELECT 1, the cache) answers, yet the task fails again at once (a
    deadlock each time): it ran again hundreds of times a second, a warning line each,
    for OUTAGE_WAIT_S; now after a backoff delay each time."""
    from django.db import OperationalError as DjangoOperationalError

    from apps.core import tasks

    monkeypatch.setattr(tasks, "OUTAGE_WAIT_S", 1.5)
    runs: list = []
    started = time.monotonic()
    with pytest.raises(DjangoOperationalError):
        tasks.run("tests.core.outage_tasks.always_deadlocked", runs)
    assert len(runs) <= 3, len(runs)
    assert time.monotonic() - started < 3


@pytest.mark.django_db
def test_periodic_tasks_run_through_the_outage_runner():
    from django_q.models import Schedule

    from apps.core.scheduling import PERIODIC_TASKS, sync_django_q_schedules
    from apps.core.tasks import RUNNER

    sync_django_q_schedules()
    rows = {s.name: (s.func, s.args) for s in Schedule.objects.all()}
    assert PERIODIC_TASKS
    for periodic in PERIODIC_TASKS:
        assert rows[periodic.name] == (RUNNER, repr(periodic.func))


def _redis_through(proxy: TcpProxy, url) -> dict:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{proxy.port}/{url.get('db', 0)}",
            "KEY_PREFIX": f"outage-{os.getpid()}",
        }
    }


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_deployed_model_is_served_and_activated_through_a_redis_outage(
    settings, trained_anomaly_model, monkeypatch, console_log
):
    """The deployed model's id is cached in Redis. Redis away: every scoring read failed
    (a collector stored nothing until it was back), and an activation raised after its
    commit and left the previous model's id cached for good, served by every process
    after Redis was back. Now the id is read from the database meanwhile, the lost
    write is a warning, and every cached id expires."""
    from apps.ml import scoring, services
    from apps.ml.models import MLModel

    monkeypatch.setattr(services, "ACTIVE_CACHE_TTL_S", 1)
    url = redis.Redis.from_url(os.environ["REDIS_URL"]).connection_pool.connection_kwargs
    proxy = TcpProxy(url.get("host", "127.0.0.1"), int(url.get("port", 6379)))
    proxy.up()
    original, settings.CACHES = settings.CACHES, _redis_through(proxy, url)
    model, metrics = trained_anomaly_model

    def register(version: str) -> MLModel:
        return services.model_register(
            name="gaussian-mixture-default", version=version,
            model_type=MLModel.Type.ANOMALY_DETECTION, weights=model.to_bytes(),
            weights_name="model.npz", metrics=metrics, config={},
        )  # fmt: skip

    try:
        services.model_activate(model=register("1.0.0"))
        assert scoring.active_anomaly_scorer().version == "1.0.0"
        newer = register("1.1.0")
        proxy.down()
        services.model_activate(model=newer)  # committed; the cache cannot be told
        scoring._active.expire()
        assert scoring.active_anomaly_scorer().version == "1.1.0"  # from the database
        proxy.up()
        time.sleep(1.5)  # what a process saw cached before the outage has expired
        scoring._active.expire()
        assert scoring.active_anomaly_scorer().version == "1.1.0"
    finally:
        settings.CACHES = original  # the teardown clears the cache
        proxy.down()
    log = console_log.getvalue()
    assert "Traceback" not in log, log
    assert (
        "WARNING apps.core.outages [- -] caching the deployed model's id: not done after "
        "the commit (redis_unavailable)" in log
    ), log


ENDING_PROBE = """
import time
import django
django.setup()
from apps.core import tasks
tasks.submit_now("tests.core.outage_tasks.always_deadlocked", [])
time.sleep(1.5)  # the task fails, and waits to run again; then the main thread ends
"""


@pytest.mark.django_db
def test_a_task_waiting_out_an_outage_does_not_hold_the_process_at_exit():
    """tasks.run waits up to OUTAGE_WAIT_S (300 s) for the services; the interpreter joins
    the in-process pool's threads at exit, so a management command or an embedded server
    stopping during an outage took up to 5 minutes to exit. Now the wait ends with it."""
    from django.db import connection

    from tests.helpers import database_url

    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "HEIMDALL_TASK_BACKEND": "inprocess",
        "DJANGO_SETTINGS_MODULE": "heimdall.settings",
    }
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", ENDING_PROBE],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert time.monotonic() - started < 20, out.stderr[-2000:]
    assert "always_deadlocked: interrupted (database_busy); running it again" in out.stderr
    # Given up at exit: the outage, one line (OutageFilter), no traceback.
    assert "in-process task tests.core.outage_tasks.always_deadlocked failed (database_busy)" in (
        out.stderr
    )
    assert "Traceback" not in out.stderr
