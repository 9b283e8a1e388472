"""/ws/signals/live (seed 004): subscribe to detections, anomaly alerts and system status.

Each connection has a bounded queue: when a client cannot keep up, the oldest
messages are dropped and the client is told how many with a
`messages_dropped` message, so a slow client never holds up the others.
"""

import asyncio
import json
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from apps.accounts.roles import has_permission
from apps.anomalies.models import AnomalyEvent
from apps.core.events import remember_event_loop
from apps.core.exceptions import envelope
from apps.core.timeutil import isoformat_z, utc_now
from apps.core.websocket_outages import OutageGuardMixin
from apps.signals import live
from apps.stations.models import Station

logger = logging.getLogger(__name__)

CHANNELS = ("signal_detections", "anomaly_alerts", "system_status")


@dataclass(frozen=True)
class LiveChannel:
    """A channel a higher app adds to this feed (e.g. constellations' `localizations`),
    registered from its AppConfig.ready() with register_live_channel.

    Its events reach the feed as `{"type": "live.channel", "channel": name, "items": [...],
    "sent_at": ...}` sent to `group`; each item becomes a `message_type` message for every
    subscribed connection whose `may_receive(user, items, filters)` (a bool per item) says
    so — checked per event, in a thread (it may read the database, e.g. a permission).
    `parse_filters(user, filters)` reads the subscribe message's filters among
    `filter_keys` (raising BadMessage)."""

    name: str
    message_type: str
    group: str
    filter_keys: frozenset[str]
    parse_filters: Callable[[Any, dict], Any]
    may_receive: Callable[[Any, list[dict], Any], list[bool]]


LIVE_CHANNELS: dict[str, LiveChannel] = {}


def register_live_channel(channel: LiveChannel) -> None:
    LIVE_CHANNELS[channel.name] = channel


def channel_names() -> tuple[str, ...]:
    return (*CHANNELS, *LIVE_CHANNELS)


FRAME_CACHE_SIZE = 20_000
# Every subscriber of an item is sent the same text: encode it once per process.
_frames: OrderedDict[tuple, str] = OrderedDict()


def encoded_frame(kind: str, item: dict, timestamp: str) -> str:
    key = (kind, item["id"], timestamp)
    text = _frames.get(key)
    if text is None:
        text = json.dumps({"type": kind, "data": item, "timestamp": timestamp})
        _frames[key] = text
        if len(_frames) > FRAME_CACHE_SIZE:
            _frames.popitem(last=False)
    return text


CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class BadMessage(Exception):
    def __init__(self, field_name: str, constraint: str):
        self.field = field_name
        self.constraint = constraint
        super().__init__(f"{field_name}: {constraint}")


@dataclass
class Subscription:
    station_ids: list[str] = field(default_factory=list)
    frequency_range: tuple[int, int] | None = None
    anomaly_threshold: float | None = None
    severities: set[str] = field(default_factory=set)

    def matches_detection(self, item: dict) -> bool:
        if self.frequency_range and not (
            self.frequency_range[0] <= item["frequency_hz"] <= self.frequency_range[1]
        ):
            return False
        if self.anomaly_threshold is not None:
            score = item.get("anomaly_score")
            return score is not None and score >= self.anomaly_threshold
        return True

    def matches_anomaly(self, item: dict) -> bool:
        if self.severities and item["severity"] not in self.severities:
            return False
        return self.matches_detection(item)

    def as_dict(self) -> dict:
        return {
            "station_ids": self.station_ids,
            "frequency_range": list(self.frequency_range) if self.frequency_range else None,
            "anomaly_threshold": self.anomaly_threshold,
            "severity": sorted(self.severities),
        }


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_frequency_range(filters: dict) -> tuple[int, int] | None:
    frequency_range = filters.get("frequency_range")
    if frequency_range is None:
        return None
    if (
        not isinstance(frequency_range, list)
        or len(frequency_range) != 2
        or not all(_number(v) and v >= 0 for v in frequency_range)
        or frequency_range[0] > frequency_range[1]
    ):
        raise BadMessage("filters.frequency_range", "must be [min_hz, max_hz] with min ≤ max")
    return (int(frequency_range[0]), int(frequency_range[1]))


def parse_subscription(filters, other_keys: frozenset[str] = frozenset()) -> Subscription:
    """The built-in channels' filters; `other_keys` are filters of registered channels."""
    if filters is None:
        return Subscription()
    if not isinstance(filters, dict):
        raise BadMessage("filters", "must be an object")
    subscription = Subscription()
    stations = filters.get("station_ids", filters.get("stations"))
    if stations is not None:
        if not isinstance(stations, list) or not all(isinstance(s, str) for s in stations):
            raise BadMessage("filters.station_ids", "must be a list of station ids")
        subscription.station_ids = sorted(set(stations))
    subscription.frequency_range = parse_frequency_range(filters)
    threshold = filters.get("anomaly_threshold")
    if threshold is not None:
        if not _number(threshold) or not 0 <= threshold <= 1:
            raise BadMessage("filters.anomaly_threshold", "must be a number from 0 to 1")
        subscription.anomaly_threshold = float(threshold)
    severities = filters.get("severity")
    if severities is not None:
        if isinstance(severities, str):
            severities = [severities]
        valid = set(AnomalyEvent.Severity.values)
        if not isinstance(severities, list) or not set(severities) <= valid:
            raise BadMessage("filters.severity", f"must be a list of {', '.join(sorted(valid))}")
        subscription.severities = set(severities)
    unknown = (
        set(filters)
        - other_keys
        - {
            "station_ids",
            "stations",
            "frequency_range",
            "anomaly_threshold",
            "severity",
        }
    )
    if unknown:
        raise BadMessage(f"filters.{sorted(unknown)[0]}", "unknown filter")
    return subscription


class LiveSignalsConsumer(OutageGuardMixin, AsyncWebsocketConsumer):
    async def dispatch(self, message):
        # Channels runs close_old_connections in a worker thread before every
        # handler; the live.* handlers never touch the database, and that
        # thread hop per event halved the fan-out (docs/performance.md).
        if message["type"].startswith("live."):
            await getattr(self, get_handler_name(message))(message)
        else:
            await super().dispatch(message)

    async def connect(self):
        await self.accept()  # accept first: a close code only reaches an accepted socket
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await database_sync_to_async(has_permission)(user, "signals:read"):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        remember_event_loop()
        self.subscriptions: dict[str, Subscription] = {}
        self.channel_filters: dict[str, Any] = {}  # registered channels' parsed filters
        self.joined: set[str] = set()
        self.outbox: deque = deque()
        self.dropped = 0
        self.limit = settings.HEIMDALL_WS_QUEUE_LIMIT
        self.wakeup = asyncio.Event()
        self.sender = asyncio.create_task(self._send_loop())
        await live.mark_listening()
        self.listening = asyncio.create_task(self._keep_listening())

    async def disconnect(self, code):
        for group in getattr(self, "joined", set()):
            await self.channel_layer.group_discard(group, self.channel_name)
        for task in (getattr(self, "sender", None), getattr(self, "listening", None)):
            if task:
                task.cancel()

    async def _keep_listening(self):
        while True:
            await asyncio.sleep(live.LISTENERS_REFRESH)
            try:
                await live.mark_listening()
            except Exception:
                logger.warning("could not refresh the live listeners key", exc_info=True)

    # --- outgoing ---------------------------------------------------------------

    def _enqueue(self, message: dict | str) -> None:
        if len(self.outbox) >= self.limit:
            self.outbox.popleft()
            self.dropped += 1
        self.outbox.append(message)
        self.wakeup.set()

    async def _send_loop(self):
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.outbox:
                if self.dropped:
                    count, self.dropped = self.dropped, 0
                    await self.send(
                        text_data=json.dumps(
                            {
                                "type": "messages_dropped",
                                "count": count,
                                "timestamp": isoformat_z(utc_now()),
                            }
                        )
                    )
                message = self.outbox.popleft()
                await self.send(
                    text_data=message if isinstance(message, str) else json.dumps(message)
                )

    async def _send_json(self, payload: dict) -> None:
        await self.send(text_data=json.dumps(payload))

    async def _error(self, code: str, message: str, details: dict | None = None):
        await self._send_json({"type": "error", **envelope(code, message, details)})

    # --- incoming -------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        try:
            message = json.loads(text_data) if text_data is not None else None
        except ValueError:
            message = None
        if not isinstance(message, dict):
            await self._error(
                "VALIDATION_ERROR",
                "Messages must be JSON objects.",
                {"field": "body", "constraint": "must be a JSON object"},
            )
            return
        kind = message.get("type")
        try:
            if kind == "subscribe":
                await self._subscribe(message)
            elif kind == "unsubscribe":
                await self._unsubscribe(message)
            elif kind == "ping":
                await self.send(
                    text_data=json.dumps({"type": "pong", "timestamp": isoformat_z(utc_now())})
                )
            else:
                raise BadMessage("type", "must be subscribe, unsubscribe or ping")
        except BadMessage as bad:
            await self._error(
                "VALIDATION_ERROR",
                f"Invalid value for '{bad.field}': {bad.constraint}",
                {"field": bad.field, "constraint": bad.constraint},
            )

    def _channels(self, message, required: bool) -> list[str]:
        channels = message.get("channels")
        if channels is None and not required:
            return list(self.subscriptions)
        names = channel_names()
        if (
            not isinstance(channels, list)
            or not channels
            or not all(isinstance(c, str) and c in names for c in channels)
        ):
            raise BadMessage("channels", f"must be a non-empty list of {', '.join(names)}")
        return channels

    def _groups_for(self, channel: str, subscription: Subscription) -> set[str]:
        if channel in LIVE_CHANNELS:
            return {LIVE_CHANNELS[channel].group}
        if channel == "system_status":
            return {live.SYSTEM}
        if channel == "signal_detections":
            if subscription.station_ids:
                return {live.detections_group(s) for s in subscription.station_ids}
            return {live.DETECTIONS_ALL}
        if subscription.station_ids:
            return {live.anomalies_group(s) for s in subscription.station_ids}
        return {live.ANOMALIES_ALL}

    async def _sync_groups(self):
        wanted = (
            set().union(*(self._groups_for(c, s) for c, s in self.subscriptions.items()))
            if self.subscriptions
            else set()
        )
        for group in wanted - self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        for group in self.joined - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = wanted

    async def _subscribe(self, message):
        channels = self._channels(message, required=True)
        registered = [LIVE_CHANNELS[c] for c in channels if c in LIVE_CHANNELS]
        other_keys = frozenset().union(*(c.filter_keys for c in registered))
        subscription = parse_subscription(message.get("filters"), other_keys)
        parsed = {}
        for channel in registered:
            parsed[channel.name] = await database_sync_to_async(channel.parse_filters)(
                self.scope["user"], message.get("filters") or {}
            )
        if subscription.station_ids:
            known = await database_sync_to_async(
                lambda: set(
                    Station.objects.filter(pk__in=subscription.station_ids).values_list(
                        "id", flat=True
                    )
                )
            )()
            unknown = sorted(set(subscription.station_ids) - known)
            if unknown:
                raise BadMessage("filters.station_ids", f"unknown station '{unknown[0]}'")
        for channel in channels:
            self.subscriptions[channel] = subscription
        self.channel_filters.update(parsed)
        shown = subscription.as_dict()
        for filters in parsed.values():
            shown.update(filters.as_dict())
        await self._sync_groups()
        await self.send(
            text_data=json.dumps(
                {
                    "type": "subscribed",
                    "channels": sorted(self.subscriptions),
                    "filters": shown,
                    "timestamp": isoformat_z(utc_now()),
                }
            )
        )
        if "system_status" in channels:
            snapshot = await database_sync_to_async(live.system_status_snapshot)()
            self._enqueue(
                {"type": "system_status", "data": snapshot, "timestamp": isoformat_z(utc_now())}
            )

    async def _unsubscribe(self, message):
        for channel in self._channels(message, required=False):
            self.subscriptions.pop(channel, None)
            self.channel_filters.pop(channel, None)
        await self._sync_groups()
        await self.send(
            text_data=json.dumps(
                {
                    "type": "unsubscribed",
                    "channels": sorted(self.subscriptions),
                    "timestamp": isoformat_z(utc_now()),
                }
            )
        )

    # --- channel-layer handlers ------------------------------------------------------

    async def live_detections(self, event):
        subscription = self.subscriptions.get("signal_detections")
        if subscription is None:
            return
        for item in event["items"]:
            if subscription.matches_detection(item):
                self._enqueue(encoded_frame("signal_detection", item, event["sent_at"]))

    async def live_anomalies(self, event):
        subscription = self.subscriptions.get("anomaly_alerts")
        if subscription is None:
            return
        for item in event["items"]:
            if subscription.matches_anomaly(item):
                self._enqueue(
                    {"type": "anomaly_alert", "data": item, "timestamp": event["sent_at"]}
                )

    async def live_system(self, event):
        if "system_status" in self.subscriptions:
            self._enqueue(
                {
                    "type": "system_status",
                    "data": event["data"],
                    "timestamp": isoformat_z(utc_now()),
                }
            )

    async def live_channel(self, event):
        """An event of a registered channel: each item to this connection if its user may
        receive it now (checked per event, off the event loop)."""
        channel = LIVE_CHANNELS.get(event["channel"])
        filters = self.channel_filters.get(event["channel"])
        if channel is None or filters is None:
            return
        user = self.scope["user"]
        allowed = await database_sync_to_async(channel.may_receive)(user, event["items"], filters)
        for item, ok in zip(event["items"], allowed, strict=True):
            if ok:
                self._enqueue(
                    {"type": channel.message_type, "data": item, "timestamp": event["sent_at"]}
                )
