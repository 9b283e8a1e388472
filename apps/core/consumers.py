"""The base of every Heimdall WebSocket consumer (/ws/signals/live, /ws/training/...).

One place for what every socket does the same way:

- **Auth.** The WebSocket auth middleware (apps.accounts.websocket_auth) puts
  the user in `scope["user"]` and how they proved it in `scope["auth"]`
  (`method`: jwt / api_key / session, `expires_at`: epoch seconds or None,
  `key_id`). A socket is accepted first (a close code reaches only an
  accepted socket), then closed with a code from the table below.
- **Close codes.**

  | code | when |
  |---|---|
  | 4401 | credentials missing, bad, expired, revoked, or the user deactivated |
  | 4403 | the role lacks the permission, or access to the object was revoked |
  | 4404 | the object (e.g. the training job) does not exist |
  | 4408 | the client stopped reading and fell too far behind |
  | 4429 | the user already has HEIMDALL_WS_MAX_SOCKETS_PER_USER sockets open |

- **Staying authorized.** A socket lives no longer than its credentials: it
  closes with 4401 when its access token expires (a client may send
  `{"<kind>": "authenticate", "token": "<new token>"}` before then to carry
  on), and it re-checks the user, the key, the role and the object every
  HEIMDALL_WS_RECHECK_SECONDS. Changes that should take effect at once
  (a user deactivated or their role changed, an API key revoked, a
  constellation share removed) call `recheck_sockets(...)`, which tells the
  sockets concerned through the channel layer to re-check now.
- **Frames.** Every frame is JSON with the kind under `kind_key` ("type" on
  the live feed, "event" on training sockets, as the seeds have them).
  `ping` → `pong`; a message that is not valid gets an error frame
  `{"<kind>": "error", "error": {code, message, details, request_id,
  timestamp}}` (the seed's envelope) and the socket stays open: no input
  closes a socket with 1011.
- **Bounds.** Outgoing frames wait in a bounded outbox (HEIMDALL_WS_QUEUE_LIMIT
  frames and HEIMDALL_WS_QUEUE_BYTES bytes); past it the oldest events are
  dropped and the client is told with `messages_dropped`. Under daphne the
  outbox stops writing while the transport is full (apps.core.websocket),
  so a client that does not read holds at most the outbox plus 64 KiB; one
  that has not read for HEIMDALL_WS_STALL_SECONDS while frames wait is closed
  with 4408. Incoming messages are bounded in size
  (HEIMDALL_WS_MAX_MESSAGE_BYTES) and rate (HEIMDALL_WS_MESSAGES_PER_SECOND).

A consumer sets `kind_key`, `required_permission` and `handlers` (message
kind → method name), and overrides `authorize()` (object checks on
connect), `opened()` (greeting), `still_allowed()` (object checks on each
re-check) and `closed()` as needed. Core knows nothing of users and roles:
the accounts app registers a `WebSocketAuthority` from its `ready()`.
"""

import asyncio
import json
import logging
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any, Protocol

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.core.events import DROPS_GROUP, publish_many, remember_event_loop
from apps.core.exceptions import envelope
from apps.core.numbers import BadValue, fast_checked_loads
from apps.core.outages import unavailable_payload, unavailable_reason
from apps.core.timeutil import isoformat_z, utc_now
from apps.core.websocket import (
    SLOT_REFRESH,
    claim_socket_slot,
    refresh_socket_slot,
    release_socket_slot,
)
from apps.core.websocket_outages import OutageGuardMixin

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4408
CLOSE_TOO_MANY_SOCKETS = 4429
# How long a closing socket may take to flush its last error frame.
CLOSE_FLUSH_SECONDS = 1.0


class BadMessage(Exception):
    """A client message that is not valid: becomes an error frame naming `field`."""

    def __init__(self, field_name: str, constraint: str, code: str = "VALIDATION_ERROR"):
        self.field = field_name
        self.constraint = constraint
        self.code = code
        super().__init__(f"{field_name}: {constraint}")


class WebSocketAuthority(Protocol):
    """What consumers need from the accounts app (registered from its ready())."""

    def current_user(self, scope) -> Any | None:
        """The socket's user re-read now, or None when its credentials no longer hold."""

    def has_permission(self, user, permission: str) -> bool: ...

    def reauthenticate(self, scope, raw_token: str) -> tuple[Any, dict] | None:
        """(user, auth) for a new token, or None when the token is not valid."""


_authority: WebSocketAuthority | None = None


def register_authority(authority: WebSocketAuthority) -> None:
    global _authority
    _authority = authority


def get_authority() -> WebSocketAuthority:
    if _authority is None:
        raise ImproperlyConfigured("No WebSocket authority registered (apps.accounts.ready)")
    return _authority


# --- control groups: "re-check now" ------------------------------------------------


def user_group(user_id) -> str:
    return f"ws.user.{user_id}"


def api_key_group(key_id) -> str:
    return f"ws.apikey.{key_id}"


def recheck_sockets(*, user_ids=(), api_key_ids=()) -> None:
    """After the current transaction commits, the named users' / keys' sockets re-check now."""
    messages = [(user_group(u), {"type": "ws.recheck"}) for u in user_ids]
    messages += [(api_key_group(k), {"type": "ws.recheck"}) for k in api_key_ids]
    publish_many(messages)


# --- message checks ----------------------------------------------------------------


class HeimdallWebSocketConsumer(OutageGuardMixin, AsyncWebsocketConsumer):
    """The base (module docstring). An outage of the database or Redis closes a
    connecting socket with 4503 and answers a message with a SERVICE_UNAVAILABLE
    error frame (apps.core.websocket_outages)."""

    kind_key = "type"
    required_permission: str | None = None
    # message kind → name of an async method taking the decoded message
    handlers: dict[str, str] = {}
    # channel-layer message types handled without touching the database: no
    # connection housekeeping thread hop per event (docs/performance.md)
    fast_message_prefixes: tuple[str, ...] = ()

    # --- hooks for subclasses ---------------------------------------------------------

    async def authorize(self) -> int | None:
        """Object checks after auth and role: a close code to refuse, or None."""
        return None

    async def opened(self) -> None:
        """The socket is accepted and authorized: greet the client."""

    async def still_allowed(self) -> int | None:
        """Object checks on each re-check: a close code to end the socket, or None."""
        return None

    async def closed(self, code) -> None:
        """The socket is gone: drop what the subclass joined."""

    # --- frames -----------------------------------------------------------------

    def send_frame(self, payload: dict | str, *, droppable: bool = False) -> None:
        """Queue a frame (a dict is JSON-encoded). Events are `droppable`; replies are not."""
        if self._closing:
            return
        text = payload if isinstance(payload, str) else json.dumps(payload)
        outbox = self._outbox
        outbox.append((text, droppable))
        self._outbox_bytes += len(text)
        while len(outbox) > self._limit or (
            self._outbox_bytes > self._limit_bytes and len(outbox) > 1
        ):
            self._drop_one()
        self._wakeup.set()

    def _drop_one(self) -> None:
        outbox = self._outbox
        index = next((i for i, (_, droppable) in enumerate(outbox) if droppable), 0)
        text, _ = outbox[index]
        del outbox[index]
        self._outbox_bytes -= len(text)
        self._dropped += 1

    def send_error(self, code: str, message: str, details: dict | None = None) -> None:
        self.send_frame({self.kind_key: "error", **envelope(code, message, details)})

    @property
    def error_frame_key(self) -> str:  # OutageGuardMixin's name for kind_key
        return self.kind_key

    async def send_outage_error(self, reason: str) -> None:
        if not hasattr(self, "_outbox"):
            await super().send_outage_error(reason)
            return
        self.send_error(*unavailable_payload(reason))

    def now(self) -> str:
        return isoformat_z(utc_now())

    # --- connect / disconnect -------------------------------------------------------

    async def dispatch(self, message):
        if self.fast_message_prefixes and message["type"].startswith(self.fast_message_prefixes):
            await getattr(self, get_handler_name(message))(message)
        else:
            await super().dispatch(message)

    async def connect(self):
        self._closing = False
        self._outbox: deque[tuple[str, bool]] = deque()
        self._outbox_bytes = 0
        self._dropped = 0
        self._limit = settings.HEIMDALL_WS_QUEUE_LIMIT
        self._limit_bytes = settings.HEIMDALL_WS_QUEUE_BYTES
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._slot: tuple[str, str] | None = None
        self._control_groups: set[str] = set()
        self._recheck_lock = asyncio.Lock()
        self._guard_wake = asyncio.Event()
        self._bucket = float(settings.HEIMDALL_WS_MESSAGES_PER_SECOND) * 2
        self._bucket_at = time.monotonic()
        self._rate_error_at = 0.0
        self._flow = self.scope.get("heimdall.flow")
        await self.accept()  # first: a close code only reaches an accepted socket
        remember_event_loop()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        authority = get_authority()
        if self.required_permission and not await database_sync_to_async(authority.has_permission)(
            user, self.required_permission
        ):
            await self._refuse(CLOSE_FORBIDDEN)
            return
        member = getattr(self, "channel_name", None) or f"local.{id(self)}"
        if not await claim_socket_slot(str(user.pk), member):
            await self._refuse(CLOSE_TOO_MANY_SOCKETS)
            return
        self._slot = (str(user.pk), member)
        try:
            code = await self.authorize()
            if code is not None:
                await self._refuse(code)
                return
            await self._join_control_groups()
        except BaseException:
            await release_socket_slot(*self._slot)  # an outage: the slot is not kept
            self._slot = None
            raise
        self._tasks = [
            asyncio.create_task(self._send_loop()),
            asyncio.create_task(self._guard()),
        ]
        await self.opened()

    async def _refuse(self, code: int) -> None:
        self._closing = True
        await self.close(code=code)

    async def _join_control_groups(self) -> None:
        if self.channel_layer is None:
            return
        auth = self.scope.get("auth") or {}
        wanted = {user_group(self.scope["user"].pk), DROPS_GROUP}
        if auth.get("key_id"):
            wanted.add(api_key_group(auth["key_id"]))
        for group in wanted - self._control_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        for group in self._control_groups - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
        self._control_groups = wanted

    async def disconnect(self, code):
        self._closing = True
        current = asyncio.current_task()
        for task in getattr(self, "_tasks", []):
            if task is not current:
                task.cancel()
        for group in getattr(self, "_control_groups", set()):
            await self.channel_layer.group_discard(group, self.channel_name)
        if getattr(self, "_slot", None):
            await release_socket_slot(*self._slot)
            self._slot = None
        if hasattr(self, "_outbox"):
            await self.closed(code)

    async def end(self, code: int, error: tuple[str, str] | None = None) -> None:
        """Close an open socket with `code`, after flushing an error frame (code, message)."""
        if self._closing:
            return
        if error is not None:
            self.send_error(*error)
            deadline = time.monotonic() + CLOSE_FLUSH_SECONDS
            while self._outbox and time.monotonic() < deadline:
                if self._flow is not None and self._flow.paused:
                    break
                await asyncio.sleep(0.01)
        self._closing = True
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        await self.close(code=code)

    # --- sending ------------------------------------------------------------------

    async def _send_loop(self):
        stall = settings.HEIMDALL_WS_STALL_SECONDS
        while not self._closing:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._outbox and not self._closing:
                flow = self._flow
                if flow is not None and flow.paused and not await flow.writable(stall):
                    logger.info("closing a WebSocket that has not read for %s s", stall)
                    await self.end(CLOSE_TOO_SLOW)
                    return
                if self._dropped:
                    count, self._dropped = self._dropped, 0
                    await self.send(
                        text_data=json.dumps(
                            {self.kind_key: "messages_dropped", "count": count,
                             "source": "outbox", "timestamp": self.now()}
                        )
                    )  # fmt: skip
                    continue  # the transport may be full again
                text, _ = self._outbox.popleft()
                self._outbox_bytes -= len(text)
                await self.send(text_data=text)

    # --- staying authorized --------------------------------------------------------

    def _expires_at(self) -> float | None:
        return (self.scope.get("auth") or {}).get("expires_at")

    async def _guard(self):
        period = settings.HEIMDALL_WS_RECHECK_SECONDS
        next_recheck = time.time() + period
        next_refresh = time.time() + SLOT_REFRESH
        while not self._closing:
            now = time.time()
            deadline = min(next_recheck, next_refresh)
            expires = self._expires_at()
            if expires is not None:
                deadline = min(deadline, expires)
            self._guard_wake.clear()
            try:
                await asyncio.wait_for(self._guard_wake.wait(), max(0.0, deadline - now))
                continue  # woken: the expiry changed (re-authentication)
            except TimeoutError:
                pass
            now = time.time()
            expires = self._expires_at()
            if expires is not None and now >= expires:
                await self.end(
                    CLOSE_UNAUTHENTICATED,
                    ("INVALID_TOKEN", "The access token expired: reconnect with a new one."),
                )
                return
            if now >= next_recheck:
                await self.recheck()
                next_recheck = now + period
            if now >= next_refresh and self._slot:
                await refresh_socket_slot(*self._slot)
                next_refresh = now + SLOT_REFRESH

    async def recheck(self) -> None:
        """Re-check credentials, role and object access now; close the socket if one fails."""
        if self._closing:
            return
        async with self._recheck_lock:
            try:
                await self._recheck()
            except Exception as exc:
                # Any step may fail (the user read, then a consumer's object lookup):
                # raised out of the guard task, it ended the task, and with it every later
                # re-check and the token's expiry for this socket. An outage is one line.
                reason = unavailable_reason(exc)
                if reason is None:
                    logger.exception("WebSocket re-check failed; trying again later")
                else:
                    logger.warning("WebSocket re-check: %s; trying again later", reason)

    async def _recheck(self) -> None:
        authority = get_authority()
        user = await database_sync_to_async(authority.current_user)(self.scope)
        if user is None:
            await self.end(
                CLOSE_UNAUTHENTICATED,
                ("INVALID_TOKEN", "The credentials of this socket are no longer valid."),
            )
            return
        if self.required_permission and not await database_sync_to_async(authority.has_permission)(
            user, self.required_permission
        ):
            await self.end(
                CLOSE_FORBIDDEN,
                ("PERMISSION_DENIED", "Your role no longer allows this socket."),
            )
            return
        self.scope["user"] = user
        code = await self.still_allowed()
        if code == CLOSE_NOT_FOUND:
            await self.end(code, ("NOT_FOUND", "The object this socket watches is gone."))
        elif code is not None:
            await self.end(code, ("PERMISSION_DENIED", "Your access to this object was revoked."))

    async def ws_recheck(self, event):
        await self.recheck()

    async def events_dropped(self, event):
        """The publisher dropped event batches (apps.core.events): some events for this
        socket may be among them. Told as `messages_dropped` with `"source": "publisher"`."""
        if not self._closing:
            self.send_frame(
                {self.kind_key: "messages_dropped", "count": event["count"], "source": "publisher",
                 "timestamp": self.now()}
            )  # fmt: skip

    # --- receiving ------------------------------------------------------------------

    def _allow_message(self) -> bool:
        rate = float(settings.HEIMDALL_WS_MESSAGES_PER_SECOND)
        now = time.monotonic()
        self._bucket = min(rate * 2, self._bucket + (now - self._bucket_at) * rate)
        self._bucket_at = now
        if self._bucket >= 1:
            self._bucket -= 1
            return True
        return False

    async def receive(self, text_data=None, bytes_data=None):
        if self._closing or not hasattr(self, "_outbox"):
            return
        if not self._allow_message():
            if time.monotonic() - self._rate_error_at >= 1:
                self._rate_error_at = time.monotonic()
                limit = settings.HEIMDALL_WS_MESSAGES_PER_SECOND
                self.send_error(
                    "RATE_LIMITED",
                    f"At most {limit} messages per second: messages were ignored.",
                    {"retry_after_seconds": 1},
                )
            return
        try:
            message = self._decode(text_data, bytes_data)
            kind = message.get(self.kind_key)
            if kind == "ping":
                self.send_frame({self.kind_key: "pong", "timestamp": self.now()})
            elif kind == "authenticate":
                await self._reauthenticate(message)
            elif isinstance(kind, str) and kind in self.handlers:
                await getattr(self, self.handlers[kind])(message)
            else:
                kinds = ", ".join(["ping", "authenticate", *self.handlers])
                raise BadMessage(self.kind_key, f"must be one of {kinds}")
        except BadMessage as bad:
            self.send_error(
                bad.code,
                f"Invalid value for '{bad.field}': {bad.constraint}",
                {"field": bad.field, "constraint": bad.constraint},
            )
        except Exception as exc:
            if unavailable_reason(exc):
                raise  # the database or Redis is out: OutageGuardMixin says so
            # A fault of ours, not the client's: say so and keep the socket.
            logger.exception("WebSocket message handling failed")
            self.send_error("INTERNAL_ERROR", "The message could not be handled.")

    def _decode(self, text_data, bytes_data) -> dict:
        if text_data is None:
            raise BadMessage("body", "must be a JSON object sent as a text frame")
        limit = settings.HEIMDALL_WS_MAX_MESSAGE_BYTES
        if len(text_data) > limit:
            raise BadMessage("body", f"must be at most {limit} bytes", code="PAYLOAD_TOO_LARGE")
        try:  # the API's reader: non-finite numbers, NUL and lone surrogates named
            message = fast_checked_loads(text_data.encode())
        except BadValue as bad:
            raise BadMessage(bad.path, bad.constraint) from None
        except (ValueError, RecursionError):
            raise BadMessage("body", "must be a JSON object") from None
        if not isinstance(message, dict):
            raise BadMessage("body", "must be a JSON object")
        return message

    async def _reauthenticate(self, message: dict) -> None:
        raw = message.get("token")
        if not isinstance(raw, str) or not raw or len(raw) > 4096:
            raise BadMessage("token", "must be an access token or API key")
        result = await database_sync_to_async(get_authority().reauthenticate)(self.scope, raw)
        if result is None:
            raise BadMessage("token", "is invalid or expired", code="INVALID_TOKEN")
        user, auth = result
        if str(user.pk) != str(self.scope["user"].pk):
            raise BadMessage("token", "belongs to another user", code="PERMISSION_DENIED")
        self.scope["user"], self.scope["auth"] = user, auth
        await self._join_control_groups()
        self._guard_wake.set()
        expires = auth.get("expires_at")
        self.send_frame(
            {
                self.kind_key: "authenticated",
                "expires_at": isoformat_z(datetime.fromtimestamp(expires, UTC))
                if expires
                else None,
                "timestamp": self.now(),
            }
        )
        await self.recheck()


class NoRouteConsumer(AsyncWebsocketConsumer):
    """Every /ws/ path no app routes: accepted, told NOT_FOUND in an error frame and
    closed with 4404. Without it channels' URLRouter raised ValueError ("No route found
    for path"), daphne logged a traceback and refused the handshake with a 500.
    (daphne can only refuse a handshake with 403, hence accept-then-close, as for every
    other close code here.)"""

    async def connect(self):
        await self.accept()
        path = self.scope.get("path", "")
        await self.send(
            text_data=json.dumps(
                {
                    "type": "error",
                    **envelope("NOT_FOUND", f"No WebSocket endpoint at {path}.", {"path": path}),
                }
            )
        )
        await self.close(code=CLOSE_NOT_FOUND)
