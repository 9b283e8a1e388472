"""WebSocket clients: the live feed (/ws/signals/live) and training progress (/ws/training).

Protocol: docs/websockets.md and docs/signals.md ("Live feed"). A socket is
opened with `?token=` (the API key, or a fresh access JWT) and checked with a
ping: a refused socket (4401 bad credentials, 4403 no permission, 4404 no
such job, 4429 too many sockets) raises WebSocketClosedError at once.

While open:

- with password credentials, the access token is renewed before it expires
  and sent as `{"<kind>": "authenticate", "token": ...}`, so the socket is not
  closed at the token's `exp` (`reauthenticate=False` turns this off);
- when the connection drops — the server closes it (4401 expiry, 4503, 1001,
  1011, ...) or the network fails — the client reconnects with backoff
  (`reconnect_delay` doubling up to `max_reconnect_delay`), with a fresh token
  after a 4401, and sends every subscription again. 4403, 4404 and 4429 are
  final (WebSocketClosedError from the iterator), and so is 4401 on an API key
  (revoked, expired, or its creator deactivated: no fresh token would help);
- each reconnection is reported as a `Gap` (when the feed stopped and started
  again, the close code): in `socket.gaps`, to `on_gap(gap)`, and as an item of
  `messages()` / `stream(include_gaps=True)`. Events published during a gap are
  not replayed by the server; fetch them with
  `client.signals.get_detections(time_range=(gap.disconnected_at, gap.reconnected_at))`.
"""

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from heimdall_sdk import models as m
from heimdall_sdk._transport import AsyncTransport
from heimdall_sdk.errors import APIError, WebSocketClosedError, error_from_response

FINAL_CLOSE_CODES = frozenset({4403, 4404, 4429})
REPLY_KINDS = frozenset({"subscribed", "unsubscribed", "pong", "authenticated", "error"})


@dataclass
class Gap:
    """A stretch without a connection: events in it were not received."""

    disconnected_at: datetime
    reconnected_at: datetime
    close_code: int | None
    reason: str = ""

    @property
    def seconds(self) -> float:
        return (self.reconnected_at - self.disconnected_at).total_seconds()


@dataclass
class LiveMessage:
    """One frame of the live feed: `type` (signal_detection, anomaly_alert, system_status,
    localization, messages_dropped, ...), its `data` and the server's `timestamp`."""

    type: str
    data: Any
    timestamp: str | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass
class LiveAnomaly:
    """An `anomaly_alert` of the live feed."""

    id: str
    detection_id: str
    event_type: str
    severity: str
    frequency_hz: int
    station_id: str
    description: str
    anomaly_score: float
    created_at: str


def _now() -> datetime:
    return datetime.now(UTC)


class _Socket:
    kind_key = "type"

    def __init__(
        self,
        transport: AsyncTransport,
        path: str,
        *,
        reconnect: bool = True,
        reconnect_delay: float = 0.5,
        max_reconnect_delay: float = 30.0,
        max_reconnects: int | None = None,
        reauthenticate: bool = True,
        on_gap: Callable[[Gap], None] | None = None,
        open_timeout: float = 10.0,
    ) -> None:
        self._t = transport
        self._path = path
        self.reconnect = reconnect
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.max_reconnects = max_reconnects
        self.reauthenticate = reauthenticate
        self.on_gap = on_gap
        self.open_timeout = open_timeout
        self.gaps: list[Gap] = []
        self.reconnects = 0
        self._ws: ClientConnection | None = None
        self._events: asyncio.Queue[Any] = asyncio.Queue()
        self._replies: asyncio.Queue[dict] = asyncio.Queue()
        self._reader: asyncio.Task | None = None
        self._renewer: asyncio.Task | None = None
        self._closed = False
        self._send_lock = asyncio.Lock()

    # --- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> "_Socket":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        self._ws = await self._connect()
        self._reader = asyncio.create_task(self._read_forever())
        if self.reauthenticate and self._t.uses_tokens:
            self._renewer = asyncio.create_task(self._renew_forever())

    async def close(self) -> None:
        self._closed = True
        for task in (self._renewer, self._reader):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._ws is not None:
            await self._ws.close()

    async def _connect(self, *, fresh: bool = False) -> ClientConnection:
        if fresh and self._t.uses_tokens:
            await self._t.refresh()
        token = await self._t.credential(fresh_for=5.0)
        url = self._t.websocket_url(self._path) + "?token=" + quote(token, safe="")
        ws = await connect(url, open_timeout=self.open_timeout, max_size=2**24)
        # A refused socket is accepted and closed at once: a ping tells.
        try:
            await ws.send(json.dumps({self.kind_key: "ping"}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), self.open_timeout))
                if frame.get(self.kind_key) == "pong":
                    break
                self._dispatch(frame)  # training sockets greet before the pong
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            raise WebSocketClosedError(code, exc.rcvd.reason if exc.rcvd else "") from exc
        await self._opened(ws)
        return ws

    async def _opened(self, ws: ClientConnection) -> None:
        """Subclasses: resubscribe after a reconnect."""

    async def _read_forever(self) -> None:
        while True:
            assert self._ws is not None
            try:
                text = await self._ws.recv()
            except ConnectionClosed as exc:
                if self._closed:
                    return
                code = exc.rcvd.code if exc.rcvd else None
                reason = exc.rcvd.reason if exc.rcvd else ""
                if not await self._reconnect(code, reason):
                    return
                continue
            try:
                frame = json.loads(text)
            except ValueError:
                continue
            self._dispatch(frame)

    def _dispatch(self, frame: dict) -> None:
        if frame.get(self.kind_key) in REPLY_KINDS:
            self._replies.put_nowait(frame)
        else:
            self._events.put_nowait(frame)

    def _finish(self, error: WebSocketClosedError) -> bool:
        self._events.put_nowait(error)
        self._closed = True
        return False

    def _final(self, code: int | None) -> bool:
        """Whether a close with `code` ends the socket for good (no reconnect)."""
        return code in FINAL_CLOSE_CODES or (code == 4401 and not self._t.uses_tokens)

    async def _reconnect(self, code: int | None, reason: str) -> bool:
        """Reconnect and report the Gap; False when the socket is closed for good."""
        disconnected = _now()
        if not self.reconnect or self._final(code):
            return self._finish(WebSocketClosedError(code, reason))
        delay = self.reconnect_delay
        fresh = code == 4401
        attempts = 0
        while True:
            if self.max_reconnects is not None and attempts >= self.max_reconnects:
                return self._finish(WebSocketClosedError(code, reason))
            attempts += 1
            try:
                self._ws = await self._connect(fresh=fresh)
                break
            except WebSocketClosedError as exc:
                if self._final(exc.code):
                    return self._finish(exc)
                fresh = exc.code == 4401
            except (OSError, InvalidHandshake, TimeoutError, APIError):
                pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_reconnect_delay)
        self.reconnects += 1
        gap = Gap(disconnected, _now(), code, reason)
        self.gaps.append(gap)
        self._events.put_nowait(gap)
        if self.on_gap:
            self.on_gap(gap)
        return True

    async def _renew_forever(self) -> None:
        """Send a fresh access token before the current one expires."""
        while True:
            left = self._t.token_expires_in() or 0.0
            margin = min(30.0, max(1.0, getattr(self._t, "_lifetime", 3600.0) / 4))
            await asyncio.sleep(max(0.0, left - margin))
            with contextlib.suppress(Exception):
                await self._t.refresh()
                await self._send({self.kind_key: "authenticate", "token": self._t._access})

    # --- messages --------------------------------------------------------------------

    async def _send(self, message: dict) -> None:
        async with self._send_lock:
            assert self._ws is not None
            await self._ws.send(json.dumps(message))

    async def _request(self, message: dict, expect: str, timeout: float = 10.0) -> dict:
        """Send and wait for the reply of kind `expect`; an error frame raises APIError."""
        await self._send(message)
        deadline = time.monotonic() + timeout
        while True:
            frame = await asyncio.wait_for(
                self._replies.get(), max(0.01, deadline - time.monotonic())
            )
            kind = frame.get(self.kind_key)
            if kind == "error":
                raise error_from_response(400, frame)
            if kind == expect:
                return frame

    async def ping(self) -> dict:
        return await self._request({self.kind_key: "ping"}, "pong")

    async def _next(self) -> Any:
        item = await self._events.get()
        if isinstance(item, WebSocketClosedError):
            raise item
        return item


class LiveSocket(_Socket):
    """/ws/signals/live: subscribe to channels, then iterate `stream()` or `messages()`."""

    def __init__(self, transport: AsyncTransport, **options: Any) -> None:
        super().__init__(transport, "/ws/signals/live", **options)
        self.subscriptions: dict[str, dict[str, Any]] = {}

    async def __aenter__(self) -> "LiveSocket":
        await self.open()
        return self

    async def _opened(self, ws: ClientConnection) -> None:
        """After a reconnect: every subscription again, each acknowledged before events flow."""
        for channel, filters in self.subscriptions.items():
            message = {"type": "subscribe", "channels": [channel], "filters": filters}
            await ws.send(json.dumps(message))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), self.open_timeout))
                if frame.get("type") == "subscribed":
                    break
                if frame.get("type") == "error":
                    raise error_from_response(400, frame)
                self._dispatch(frame)

    async def subscribe(self, channels: list[str], filters: dict[str, Any] | None = None) -> dict:
        """Subscribe `channels` with `filters` (docs/signals.md); remembered for reconnects."""
        reply = await self._request(
            {"type": "subscribe", "channels": channels, "filters": filters or {}}, "subscribed"
        )
        for channel in channels:
            self.subscriptions[channel] = filters or {}
        return reply

    async def unsubscribe(self, channels: list[str] | None = None) -> dict:
        message: dict[str, Any] = {"type": "unsubscribe"}
        if channels is not None:
            message["channels"] = channels
        reply = await self._request(message, "unsubscribed")
        for channel in channels if channels is not None else list(self.subscriptions):
            self.subscriptions.pop(channel, None)
        return reply

    async def subscribe_signals(
        self,
        *,
        stations: list[str] | None = None,
        frequency_range: tuple[float, float] | list[float] | None = None,
        anomaly_threshold: float | None = None,
    ) -> dict:
        """Seed 004's call: signal detections of `stations` within `frequency_range` (Hz)."""
        return await self.subscribe(
            ["signal_detections"],
            _filters(stations, frequency_range, anomaly_threshold=anomaly_threshold),
        )

    async def subscribe_anomalies(
        self,
        *,
        stations: list[str] | None = None,
        frequency_range: tuple[float, float] | list[float] | None = None,
        severity: list[str] | None = None,
        anomaly_threshold: float | None = None,
    ) -> dict:
        return await self.subscribe(
            ["anomaly_alerts"],
            _filters(
                stations, frequency_range, severity=severity, anomaly_threshold=anomaly_threshold
            ),
        )

    async def subscribe_system_status(self) -> dict:
        return await self.subscribe(["system_status"])

    async def messages(self) -> AsyncIterator[LiveMessage | Gap]:
        """Every frame (typed by `type`) and every Gap, in order of arrival."""
        while True:
            item = await self._next()
            if isinstance(item, Gap):
                yield item
                continue
            yield LiveMessage(item.get("type", ""), item.get("data"), item.get("timestamp"), item)

    async def stream(
        self, *, include_gaps: bool = False
    ) -> AsyncIterator[m.DetectionListItem | Gap]:
        """Seed 004's `async for signal in ws.stream()`: each signal detection as a
        DetectionListItem (`signal.frequency_hz`, ...); Gaps too when asked."""
        async for message in self.messages():
            if isinstance(message, Gap):
                if include_gaps:
                    yield message
            elif message.type == "signal_detection":
                yield m.DetectionListItem.from_dict(message.data)

    async def anomalies(self) -> AsyncIterator[LiveAnomaly]:
        async for message in self.messages():
            if isinstance(message, LiveMessage) and message.type == "anomaly_alert":
                yield LiveAnomaly(**message.data)


def _filters(stations, frequency_range, **extra: Any) -> dict[str, Any]:
    filters: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
    if stations is not None:
        filters["station_ids"] = list(stations)
    if frequency_range is not None:
        filters["frequency_range"] = [int(f) for f in frequency_range]
    return filters


TERMINAL_EVENTS = frozenset({"train_complete", "train_failed"})


class TrainingSocket(_Socket):
    """/ws/training/{job_id} (or /ws/training for every job): training events as dicts.

    `events()` yields each event (`training_status`, `train_progress`,
    `train_complete`, `train_failed`; docs/training.md) and, for one job, ends
    after its `train_complete` or `train_failed`. After a reconnect the server
    sends the job's current `training_status` at once, so nothing is stale.
    """

    kind_key = "event"

    def __init__(self, transport: AsyncTransport, job_id: str | None = None, **options: Any):
        path = f"/ws/training/{quote(job_id, safe='')}" if job_id else "/ws/training"
        super().__init__(transport, path, **options)
        self.job_id = job_id

    async def __aenter__(self) -> "TrainingSocket":
        await self.open()
        return self

    async def events(self, *, include_gaps: bool = False) -> AsyncIterator[dict[str, Any] | Gap]:
        while True:
            item = await self._next()
            if isinstance(item, Gap):
                if include_gaps:
                    yield item
                continue
            yield item
            if self.job_id and item.get("event") in TERMINAL_EVENTS:
                return

    def __aiter__(self) -> AsyncIterator[dict[str, Any] | Gap]:
        return self.events()


class WebSocketFactory:
    """`client.websocket`: `async with client.websocket.connect() as ws: ...` (seed 004)."""

    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport

    def connect(self, **options: Any) -> LiveSocket:
        """A LiveSocket on /ws/signals/live; use it with `async with`. Options: see _Socket."""
        return LiveSocket(self._t, **options)

    def training(self, job_id: str | None = None, **options: Any) -> TrainingSocket:
        return TrainingSocket(self._t, job_id, **options)
