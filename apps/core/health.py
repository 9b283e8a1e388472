"""Real checks of each service Heimdall depends on, for GET /health.

Service keys follow seed 004 where Heimdall has the same part, and name the
part Heimdall really uses where it differs:

* `database`, as in the seed;
* `redis` when Redis is configured (REDIS_URL): the channel layer and the
  cache, both checked with a real round trip. The embedded default has no
  Redis; its in-memory channel layer is reported as `channel_layer`;
* the seed's `rabbitmq` is Heimdall's django-q2 task queue: `task_queue`;
* `websdr_collectors`, as in the seed (registered by apps.collectors).
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection

from apps.core import tasks

logger = logging.getLogger(__name__)

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return HEALTHY
    except Exception:
        logger.warning("health: database unreachable", exc_info=True)
        return UNHEALTHY


def check_channel_layer() -> str:
    """A message sent to a private channel must come back.

    With Redis (channels_redis.pubsub.RedisPubSubChannelLayer) the round trip is made
    on each of the layer's hosts with Redis's own pub/sub, as that layer uses it
    (SUBSCRIBE, PUBLISH, the message back): ~2 ms. Through the layer object it took
    ~100 ms, all of it a wait: the layer's receiver task sleeps 0.1 s while it has no
    subscription (`_do_receiving` in channels_redis/pubsub.py), which a fresh
    health-check channel always starts from.
    """
    layer = get_channel_layer()
    if layer is None:
        return UNHEALTHY
    hosts = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts")
    if hosts:
        return _pubsub_round_trips(hosts)
    return _layer_round_trip(layer)


_clients: dict = {}  # channel-layer host URL → redis.Redis


def _pubsub_round_trips(hosts) -> str:
    import redis

    marker = uuid.uuid4().hex
    channel = (
        f"{settings.CHANNEL_LAYERS['default']['CONFIG'].get('prefix', 'asgi')}__health.{marker}"
    )
    try:
        for host in hosts:
            url = host if isinstance(host, str) else host["address"]
            client = _clients.get(url)
            if client is None:  # one per host for the process; its pool reconnects
                client = _clients[url] = redis.Redis.from_url(
                    url, socket_timeout=2, socket_connect_timeout=2
                )
            with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                pubsub.subscribe(channel)
                pubsub.get_message(timeout=2)  # the subscription's confirmation
                if client.publish(channel, marker) != 1:
                    return UNHEALTHY
                message = pubsub.get_message(timeout=2)
                if message is None or message["data"] != marker.encode():
                    return UNHEALTHY
        return HEALTHY
    except Exception:
        logger.warning("health: channel layer unreachable", exc_info=True)
        return UNHEALTHY


def _layer_round_trip(layer) -> str:
    """Through the layer object (the in-memory layer of the embedded mode)."""
    marker = uuid.uuid4().hex

    async def round_trip():
        # One event loop throughout: the pub/sub layer subscribes per loop, and
        # delivers only to channels already subscribed when the message is sent.
        channel = await layer.new_channel("health.")
        receiver = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(0)
        await layer.send(channel, {"type": "health.ping", "marker": marker})
        message = await asyncio.wait_for(receiver, timeout=2)
        # A cancelled receive unsubscribes the channel: no subscription left behind.
        cleanup = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(0)
        cleanup.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cleanup
        return message

    try:
        message = async_to_sync(round_trip)()
        return HEALTHY if message.get("marker") == marker else UNHEALTHY
    except Exception:
        logger.warning("health: channel layer unreachable", exc_info=True)
        return UNHEALTHY


def check_cache() -> str:
    """A value written to the cache must read back."""
    from django.core.cache import cache

    key, marker = f"health:{uuid.uuid4().hex}", uuid.uuid4().hex
    try:
        cache.set(key, marker, timeout=10)
        found = cache.get(key)
        cache.delete(key)
        return HEALTHY if found == marker else UNHEALTHY
    except Exception:
        logger.warning("health: cache unreachable", exc_info=True)
        return UNHEALTHY


def check_redis() -> str:
    """Redis as Heimdall uses it: the channel layer and the cache (the worse of the two)."""
    states = (check_channel_layer(), check_cache())
    return HEALTHY if all(state == HEALTHY for state in states) else UNHEALTHY


def check_task_queue() -> str:
    if settings.HEIMDALL_TASK_BACKEND != "django_q":
        return HEALTHY if tasks.inprocess_workers_alive() else UNHEALTHY
    try:
        from django_q.status import Stat

        # A running cluster refreshes its stat every few seconds.
        return HEALTHY if Stat.get_all() else UNHEALTHY
    except Exception:
        logger.warning("health: task queue unreachable", exc_info=True)
        return UNHEALTHY


@dataclass(frozen=True)
class Check:
    """A named check returning HEALTHY, DEGRADED or UNHEALTHY.

    `needs_database`: reported UNHEALTHY without running when the database is
    down. `in_health`: listed in GET /health's `services` (some checks only
    feed the live feed's system_status).
    """

    name: str
    func: Callable[[], str]
    needs_database: bool = False
    in_health: bool = True


_checks: dict[str, Check] = {}


def register_check(
    name: str, func: Callable[[], str], *, needs_database: bool = False, in_health: bool = True
) -> None:
    """Add a check (apps call this from `AppConfig.ready()`); re-registering replaces it."""
    _checks[name] = Check(name, func, needs_database, in_health)


def run_check(name: str) -> str:
    """One registered check; an unknown name or a check that raises is UNHEALTHY."""
    check = _checks.get(name)
    if check is None:
        return UNHEALTHY
    try:
        return check.func()
    except Exception:
        logger.warning("health: check %s failed", name, exc_info=True)
        return UNHEALTHY


register_check("database", check_database)
if getattr(settings, "REDIS_URL", None):
    register_check("redis", check_redis)
else:
    register_check("channel_layer", check_channel_layer)
register_check("task_queue", check_task_queue)


def system_health() -> tuple[str, dict[str, str]]:
    """Overall status and per-service status (every registered check with `in_health`).

    The database is the one service Heimdall cannot serve without: its loss
    makes the whole system unhealthy (HTTP 503). Any other failing service
    leaves it degraded.
    """
    database = run_check("database")
    services = {"database": database}
    for check in _checks.values():
        if not check.in_health or check.name == "database":
            continue
        if check.needs_database and database != HEALTHY:
            services[check.name] = UNHEALTHY
        else:
            services[check.name] = run_check(check.name)
    if database != HEALTHY:
        overall = UNHEALTHY
    elif all(state == HEALTHY for state in services.values()):
        overall = HEALTHY
    else:
        overall = DEGRADED
    return overall, services
