"""Database connections under load and outages (issue 12 §9), against real processes.

A daphne on the test database with a small pool: a table lock held by the
test keeps the pool's connections busy, so the pool is exhausted for as long
as the test wants, and every way a request can need a connection (a view,
session middleware, a Django page, WebSocket authentication) must answer 503
/ close 4503, never 500 / 1011. Outages are made without touching the shared
servers: `pg_terminate_backend` on the server's own connections, or a TCP
proxy between the process and PostgreSQL that the test takes away.
"""

import asyncio
import contextlib
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import websockets
from django.db import connection
from rest_framework_simplejwt.tokens import RefreshToken
from websockets.sync import client as ws_sync

from tests.helpers import database_url, make_user
from tests.servers import Process, TcpProxy, daphne, http, wait_until
from tests.stations.factories import StationFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _server_env(**extra) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        **{k: str(v) for k, v in extra.items()},
    }


def _raw_connection():
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        dbname=settings["NAME"],
        autocommit=True,
    )


def _server_connections(application_name: str) -> int:
    with _raw_connection() as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
            [connection.settings_dict["NAME"], application_name],
        ).fetchone()[0]


def _assert_503(status, headers, body):
    assert status == 503, body
    assert int(headers["Retry-After"]) >= 1
    error = body["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["details"]["reason"] == "database_pool_exhausted"
    assert error["request_id"] == headers["X-Request-ID"]


def test_an_exhausted_pool_answers_503_and_never_exceeds_its_size(tmp_path):
    StationFactory(id="twente-nl")
    token = str(RefreshToken.for_user(make_user("otto", "operator")).access_token)
    env = _server_env(
        HEIMDALL_PROCESS="web",
        HEIMDALL_DB_POOL_MAX_SIZE=2,
        HEIMDALL_DB_POOL_TIMEOUT=1,
    )
    with contextlib.ExitStack() as stack:
        base, server = stack.enter_context(daphne(env, tmp_path / "daphne.log"))
        locker = stack.enter_context(_raw_connection())
        # A live socket opened before the pool runs dry.
        live = stack.enter_context(
            ws_sync.connect(base.replace("http://", "ws://") + f"/ws/signals/live?token={token}")
        )
        # Two requests take the pool's two connections and wait on this lock.
        locker.execute("BEGIN")
        locker.execute("LOCK TABLE stations_station IN ACCESS EXCLUSIVE MODE")
        with ThreadPoolExecutor(max_workers=16) as pool:
            held = [
                pool.submit(http, "GET", f"{base}/api/v1/stations", None, token) for _ in range(2)
            ]
            wait_until(
                lambda: (
                    _server_connections("heimdall-web") == 2 and "Lock" in _waits_of("heimdall-web")
                ),
                20,
                message="two requests waiting on the lock",
            )
            # An API view (JWT), session middleware (a session cookie: Django looks
            # the session up before any view), and a Django page: each a 503.
            views = [
                pool.submit(http, "GET", f"{base}/api/v1/stations", None, token) for _ in range(8)
            ]
            for status, headers, body in (f.result() for f in views):
                _assert_503(status, headers, body)
            status, headers, body = _http_with_cookie(f"{base}/api/v1/stations")
            _assert_503(status, headers, body)
            status, headers, body = _http_with_cookie(f"{base}/admin/")
            assert status == 503 and headers["Retry-After"] and "Retry in" in body
            # WebSocket authentication needs the user row: closed 4503, not 1011.
            code = asyncio.run(_websocket_close_code(base, token))
            assert code == 4503
            # The open socket's next message needs the database: an error frame, and
            # the socket stays open.
            live.send(json.dumps({"type": "subscribe", "channels": ["signal_detections"],
                                  "filters": {"station_ids": ["twente-nl"]}}))  # fmt: skip
            frame = json.loads(live.recv(timeout=30))
            assert frame["type"] == "error", frame
            assert frame["error"]["code"] == "SERVICE_UNAVAILABLE"
            live.send(json.dumps({"type": "ping"}))
            assert json.loads(live.recv(timeout=10))["type"] == "pong"
            assert _server_connections("heimdall-web") <= 2
            locker.execute("COMMIT")
            assert [f.result()[0] for f in held] == [200, 200]
        # The pool serves again at once; no request ever got a 500.
        assert http("GET", f"{base}/api/v1/stations", token=token)[0] == 200
        assert _server_connections("heimdall-web") <= 2
        log = server.log()
    # No 500 and no logged crash (a loaded machine may add the rate limiter's own
    # fail-open warnings about a slow Redis: those are not this test's subject).
    assert '" 500 ' not in log and "Internal Server Error" not in log, log[-3000:]
    assert "503 database_pool_exhausted" in log or "(database_pool_exhausted)" in log


def _waits_of(application_name: str) -> str:
    with _raw_connection() as conn:
        rows = conn.execute(
            "SELECT coalesce(wait_event_type, '') FROM pg_stat_activity "
            "WHERE datname = %s AND application_name = %s",
            [connection.settings_dict["NAME"], application_name],
        ).fetchall()
    return " ".join(row[0] for row in rows)


def _http_with_cookie(url: str):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Cookie": "sessionid=" + "a1b2c3d4" * 4})
    try:
        with urllib.request.urlopen(request, timeout=90) as response:
            status, raw, headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as err:
        status, raw, headers = err.code, err.read(), err.headers
    try:
        return status, headers, json.loads(raw)
    except ValueError:
        return status, headers, raw.decode()


async def _websocket_close_code(base: str, token: str) -> int:
    url = base.replace("http://", "ws://") + f"/ws/signals/live?token={token}"
    async with websockets.connect(url) as ws:
        try:
            await asyncio.wait_for(ws.recv(), 15)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code
    raise AssertionError("the socket stayed open")


def test_web_process_recovers_when_its_connections_are_killed(tmp_path):
    StationFactory(id="twente-nl")
    token = str(RefreshToken.for_user(make_user("otto", "operator")).access_token)
    env = _server_env(HEIMDALL_PROCESS="web", HEIMDALL_DB_POOL_MAX_SIZE=3)
    with daphne(env, tmp_path / "daphne.log") as (base, server):
        assert http("GET", f"{base}/api/v1/stations", token=token)[0] == 200
        with _raw_connection() as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name = 'heimdall-web'",
                [connection.settings_dict["NAME"]],
            ).fetchone()[0]
        assert killed >= 1
        statuses = [http("GET", f"{base}/api/v1/stations", token=token)[0] for _ in range(10)]
        # The pool checks a connection before handing it out: none of them fails.
        assert statuses == [200] * 10
        assert "Internal Server Error" not in server.log()


def _detections_since(station_id: str) -> int:
    with _raw_connection() as conn:
        return conn.execute(
            "SELECT count(*) FROM signals_signaldetection WHERE websdr_station_id = %s",
            [station_id],
        ).fetchone()[0]


@contextlib.contextmanager
def _collecting(tmp_path, proxy: TcpProxy, **env):
    """`manage.py collect` of a simulated station, `env` added to the server environment;
    stopped (and `proxy` cut) afterwards. Yields the process."""
    StationFactory(id="sim-1", api_config={"api_type": "simulated", "poll_interval": 0.2})
    collect = Process(
        [sys.executable, "manage.py", "collect", "--station", "sim-1"],
        _server_env(HEIMDALL_PROCESS="collector", **env),
        tmp_path / "c.log",
    )
    try:
        yield collect
    finally:
        collect.stop()
        proxy.down()


def test_collect_process_survives_a_database_outage(tmp_path):
    settings = connection.settings_dict
    proxy = TcpProxy(settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432))
    proxy.up()
    url = f"postgres://{settings['USER']}@127.0.0.1:{proxy.port}/{settings['NAME']}"
    with _collecting(tmp_path, proxy, DATABASE_URL=url) as collect:
        wait_until(lambda: _detections_since("sim-1") > 0, 60, 0.5, "first detections")
        proxy.down()  # the database goes away: refused, every connection reset
        wait_until(lambda: "waiting" in collect.log(), 30, 0.2, "the outage to be noticed")
        asyncio.run(asyncio.sleep(3))
        assert collect.alive(), collect.log()[-3000:]
        during = _detections_since("sim-1")
        proxy.up()
        wait_until(lambda: _detections_since("sim-1") > during, 60, 0.5, "detections after it")
        assert collect.alive()
    log = collect.log()
    assert "Traceback" not in log, log[-3000:]
    # The outage was Heimdall's, not the station's: no failed check recorded for it.
    with _raw_connection() as conn:
        failed = conn.execute(
            "SELECT count(*) FROM stations_stationcheck WHERE station_id = 'sim-1' AND NOT ok"
        ).fetchone()[0]
    assert failed == 0


def _redis_proxy() -> tuple[TcpProxy, str]:
    """A proxy in front of the test's Redis, and the REDIS_URL through it."""
    import redis

    kwargs = redis.Redis.from_url(os.environ["REDIS_URL"]).connection_pool.connection_kwargs
    proxy = TcpProxy(kwargs.get("host", "127.0.0.1"), int(kwargs.get("port", 6379)))
    proxy.up()
    return proxy, f"redis://127.0.0.1:{proxy.port}/{kwargs.get('db', 0)}"


def test_collect_process_goes_on_storing_through_a_redis_outage(tmp_path):
    """Redis is the cache and the live events, not the store: detections go on being
    stored while it is away, and the process's log has no traceback."""
    proxy, redis_url = _redis_proxy()
    with _collecting(tmp_path, proxy, REDIS_URL=redis_url) as collect:
        wait_until(lambda: _detections_since("sim-1") > 0, 60, 0.5, "first detections")
        proxy.down()
        before = _detections_since("sim-1")
        wait_until(lambda: _detections_since("sim-1") > before + 20, 30, 0.5,
                   "detections stored while Redis is away")  # fmt: skip
        proxy.up()
        during = _detections_since("sim-1")
        wait_until(lambda: _detections_since("sim-1") > during, 30, 0.5, "detections after it")
        assert collect.alive()
    log = collect.log()
    assert "Traceback" not in log, log[-3000:]


def _task_done(task_id: str) -> bool:
    with _raw_connection() as conn:
        row = conn.execute("SELECT success FROM django_q_task WHERE id = %s", [task_id]).fetchone()
    return bool(row and row[0])


def test_qcluster_survives_a_database_outage(tmp_path):
    """Pusher, workers and monitor of a django-q2 cluster go on after the database returns."""
    from django_q.tasks import async_task

    settings = connection.settings_dict
    proxy = TcpProxy(settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432))
    proxy.up()
    env = _server_env(
        HEIMDALL_PROCESS="worker",
        DATABASE_URL=f"postgres://{settings['USER']}@127.0.0.1:{proxy.port}/{settings['NAME']}",
    )
    cluster = Process([sys.executable, "manage.py", "qcluster"], env, tmp_path / "q.log")
    try:
        first = async_task("math.floor", 2.5)
        wait_until(lambda: _task_done(first), 60, 0.5, "a task before the outage")
        proxy.down()
        asyncio.run(asyncio.sleep(12))  # longer than the pusher's own 10 s pause
        assert cluster.alive(), cluster.log()[-3000:]
        proxy.up()
        second = async_task("math.floor", 3.5)
        wait_until(lambda: _task_done(second), 90, 0.5, "a task after the outage")
        assert cluster.alive()
    finally:
        cluster.stop()
        proxy.down()


def _sleeping_backend() -> int | None:
    with _raw_connection() as conn:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
            "AND query LIKE 'SELECT pg_sleep(%%' AND pid <> pg_backend_pid()",
            [connection.settings_dict["NAME"]],
        ).fetchone()
    return row and row[0]


def _lines(path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_task_cut_off_by_a_database_outage_runs_again_after_it(tmp_path):
    """The worker's connection killed mid-task: django-q2 recorded the task as failed (the
    database was back by then) and, at one attempt, acknowledged it: the work was lost,
    logged with a traceback. apps.core.tasks.run waits for the database and runs it again."""
    from apps.core.tasks import dispatch

    runs = tmp_path / "runs"
    cluster = Process([sys.executable, "manage.py", "qcluster"],
                      _server_env(HEIMDALL_PROCESS="worker"), tmp_path / "q.log")  # fmt: skip
    try:
        dispatch("tests.core.outage_tasks.sleep_in_the_database", str(runs), 60)
        pid = wait_until(_sleeping_backend, 60, 0.2, "the task to wait in the database")
        with _raw_connection() as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
        wait_until(lambda: "done" in _lines(runs), 30, 0.2, "the task to run again")
        assert _lines(runs) == ["started", "started", "done"]
        assert cluster.alive()
    finally:
        cluster.stop()
    log = cluster.log()
    assert "Traceback" not in log, log[-3000:]
    assert (
        "task tests.core.outage_tasks.sleep_in_the_database: interrupted (database_unavailable)"
        in log
    ), log[-3000:]


def test_websocket_consumers_give_their_connections_back(tmp_path):
    """database_sync_to_async returns each connection to the pool: open sockets hold none."""
    StationFactory(id="twente-nl")
    token = str(RefreshToken.for_user(make_user("otto", "operator")).access_token)
    env = _server_env(
        HEIMDALL_PROCESS="web", HEIMDALL_DB_POOL_MAX_SIZE=2, HEIMDALL_DB_POOL_TIMEOUT=2
    )

    async def scenario(base: str):
        url = base.replace("http://", "ws://") + f"/ws/signals/live?token={token}"
        sockets = []
        for _ in range(12):  # each: a user lookup, a permission check, a station lookup
            ws = await websockets.connect(url)
            await ws.send(json.dumps({"type": "subscribe", "channels": ["signal_detections"],
                                      "filters": {"station_ids": ["twente-nl"]}}))  # fmt: skip
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribed"
            sockets.append(ws)
        statuses = [
            (await asyncio.to_thread(http, "GET", f"{base}/api/v1/stations", None, token))[0]
            for _ in range(5)
        ]
        for ws in sockets:
            await ws.close()
        return statuses

    with daphne(env, tmp_path / "daphne.log") as (base, server):
        assert asyncio.run(scenario(base)) == [200] * 5
        assert _server_connections("heimdall-web") <= 2
        assert "Internal Server Error" not in server.log()
