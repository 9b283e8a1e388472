"""WebSocket resource bounds below the consumers: transport flow control and socket slots.

**Flow control.** ASGI gives an application no back-pressure: daphne's
`send` writes each frame into Twisted's transport buffer at once
(daphne/server.py `handle_reply` → ws_protocol.py `serverSend` →
autobahn `sendMessage`), so a client that stops reading makes the server
buffer everything sent to it (about 42 MB in a few seconds of live feed).
Twisted's public producer API (`ITransport.registerProducer`, see
twisted/internet/abstract.py `_maybePauseProducer`) tells a registered
streaming producer to pause when the transport holds more than its
`bufferSize` (64 KiB) unwritten bytes and to resume once it has drained.
`FlowControlASGI` registers a `TransportFlow` on each daphne WebSocket's
transport and puts it in `scope["heimdall.flow"]`; the base consumer
(`apps.core.consumers`) stops writing while it is paused, keeps at most
a bounded outbox meanwhile, and closes the socket if it stays paused.
daphne hands the protocol to the application only as the first argument of
its `send` partial (daphne/server.py `create_application`:
`send=partial(self.handle_reply, protocol)`); under another server, or if
that shape changes, there is no flow object and consumers write as before.

The transport's producer slot still holds the HTTP channel that upgraded
the connection (twisted/web/http.py `HTTPChannel.connectionMade`); it no
longer serves this connection, and its `pauseProducing` would only stop
reading from the client, so it is replaced.

**Socket slots.** At most HEIMDALL_WS_MAX_SOCKETS_PER_USER sockets per user
across all processes: a Redis sorted set per user (member: channel name,
score: expiry), claimed by a Lua script that drops expired members, counts
and adds atomically, so twelve sockets opened at the same moment against a
cap of five get exactly five slots. Open sockets refresh their member every
SLOT_REFRESH seconds; a process that dies leaves members that expire after
SLOT_TTL. Without Redis (embedded mode) the count is kept in the process.
"""

import asyncio
import functools
import logging
import threading
import time

from asgiref.sync import sync_to_async
from django.conf import settings

logger = logging.getLogger(__name__)

SLOT_TTL = 90
SLOT_REFRESH = 30


class TransportFlow:
    """A Twisted streaming producer that only records whether the transport wants a pause.

    Called by Twisted on the reactor's thread, which under daphne is the
    asyncio loop's thread (daphne installs twisted's asyncioreactor).
    """

    def __init__(self, transport):
        self.transport = transport
        self.paused = False
        self.paused_since: float | None = None
        self._resumed = asyncio.Event()
        self._resumed.set()

    # IPushProducer
    def pauseProducing(self):
        if not self.paused:
            self.paused = True
            self.paused_since = time.monotonic()
            self._resumed.clear()

    def resumeProducing(self):
        self.paused = False
        self.paused_since = None
        self._resumed.set()

    def stopProducing(self):
        self.resumeProducing()  # let a waiting sender run and see the socket closed

    async def writable(self, timeout: float) -> bool:
        """Wait until the transport may be written to; False after `timeout` seconds paused."""
        if not self.paused:
            return True
        try:
            await asyncio.wait_for(self._resumed.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def buffered_bytes(self) -> int | None:
        """Bytes the transport holds unwritten, where Twisted's transport says (tests, logs)."""
        transport = getattr(self.transport, "transport", None) or self.transport
        try:
            return len(transport.dataBuffer) - transport.offset + transport._tempDataLen
        except AttributeError:
            return None


def _daphne_transport(send):
    if isinstance(send, functools.partial) and send.args:
        return getattr(send.args[0], "transport", None)
    return None


class FlowControlASGI:
    """Outermost WebSocket middleware: scope["heimdall.flow"] for daphne connections."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        transport = _daphne_transport(send)
        if scope.get("type") == "websocket" and transport is not None:
            flow = TransportFlow(transport)
            try:
                transport.unregisterProducer()  # the upgraded HTTP channel (module docstring)
                transport.registerProducer(flow, True)
                scope = {**scope, "heimdall.flow": flow}
            except Exception:
                logger.warning("no flow control for this WebSocket", exc_info=True)
        return await self.inner(scope, receive, send)


# --- per-user socket slots ---------------------------------------------------------

_CLAIM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local cap = tonumber(ARGV[3])
if cap > 0 and redis.call('ZCARD', KEYS[1]) >= cap then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""
_local_lock = threading.Lock()
_local_slots: dict[str, dict[str, float]] = {}
_claim_script = None


def _slot_key(user_id: str) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "heimdall")
    return f"{prefix}:ws:sockets:{user_id}"


def _claim_sync(user_id: str, member: str, cap: int) -> bool:
    now = time.time()
    if settings.REDIS_URL:
        global _claim_script
        from apps.core.ratelimit import _redis

        if _claim_script is None:
            _claim_script = _redis().register_script(_CLAIM)
        claimed = _claim_script(
            keys=[_slot_key(user_id)], args=[now, now + SLOT_TTL, cap, member, SLOT_TTL + 5]
        )
        return bool(claimed)
    with _local_lock:
        slots = {m: exp for m, exp in _local_slots.get(user_id, {}).items() if exp > now}
        if cap > 0 and len(slots) >= cap:
            _local_slots[user_id] = slots
            return False
        slots[member] = now + SLOT_TTL
        _local_slots[user_id] = slots
        return True


def _refresh_sync(user_id: str, member: str) -> None:
    expires = time.time() + SLOT_TTL
    if settings.REDIS_URL:
        from apps.core.ratelimit import _redis

        pipe = _redis().pipeline(transaction=False)
        pipe.zadd(_slot_key(user_id), {member: expires}, xx=True)
        pipe.expire(_slot_key(user_id), SLOT_TTL + 5)
        pipe.execute()
        return
    with _local_lock:
        if member in _local_slots.get(user_id, {}):
            _local_slots[user_id][member] = expires


def _release_sync(user_id: str, member: str) -> None:
    if settings.REDIS_URL:
        from apps.core.ratelimit import _redis

        _redis().zrem(_slot_key(user_id), member)
        return
    with _local_lock:
        _local_slots.get(user_id, {}).pop(member, None)


async def claim_socket_slot(user_id: str, member: str) -> bool:
    """Take one of the user's socket slots; False when all are taken. Fails open on Redis errors."""
    cap = settings.HEIMDALL_WS_MAX_SOCKETS_PER_USER
    try:
        return await sync_to_async(_claim_sync, thread_sensitive=False)(user_id, member, cap)
    except Exception:
        logger.warning("socket slots unavailable; socket not counted", exc_info=True)
        return True


async def refresh_socket_slot(user_id: str, member: str) -> None:
    try:
        await sync_to_async(_refresh_sync, thread_sensitive=False)(user_id, member)
    except Exception:
        logger.warning("could not refresh a socket slot", exc_info=True)


async def release_socket_slot(user_id: str, member: str) -> None:
    try:
        await sync_to_async(_release_sync, thread_sensitive=False)(user_id, member)
    except Exception:
        logger.warning("could not release a socket slot", exc_info=True)
