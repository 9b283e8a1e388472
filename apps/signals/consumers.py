"""/ws/signals/live (seed 004): subscribe to detections, anomaly alerts and system status.

Auth, close codes, error frames, ping, re-checks and the bounded outbox
(a client that cannot keep up loses the oldest messages and is told with
`messages_dropped`) are the base consumer's (apps.core.consumers).

Higher apps add channels of their own (e.g. `localizations`) with
`register_live_channel(LiveChannel(...))` from their AppConfig.ready(); their
events reach subscribers as `{"type": "live.extra", "channel": name,
"items": [...], "sent_at": iso}` channel-layer messages (`extra_event()`).
"""

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async

from apps.anomalies.models import AnomalyEvent
from apps.core.consumers import (
    CLOSE_FORBIDDEN,
    BadMessage,
    HeimdallWebSocketConsumer,
    get_authority,
)
from apps.core.numbers import is_finite_number
from apps.signals import live
from apps.signals.validation import MAX_FREQUENCY_HZ
from apps.stations.models import Station

logger = logging.getLogger(__name__)

CHANNELS = ("signal_detections", "anomaly_alerts", "system_status")
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


MAX_STATION_FILTER = 1000
BUILTIN_FILTER_KEYS = frozenset(
    {"station_ids", "stations", "frequency_range", "anomaly_threshold", "severity"}
)


@dataclass(frozen=True)
class LiveChannel:
    """A channel of /ws/signals/live added by a higher app.

    - `name`: what clients put in `channels`; `frame_type`: the `type` of its frames.
    - `permission`: the role permission a subscriber needs (else an error frame).
    - `filter_keys`: the keys of `filters` it reads (others stay the built-in ones').
    - `parse(filters, user)`: runs in a database thread; returns the channel's
      subscription object, or raises `BadMessage` naming `filters.<key>`. An
      `as_dict()` on that object adds its filters to the `subscribed` reply.
    - `groups(subscription)`: the channel-layer groups to join.
    - `matches(subscription, item)`: on the event loop, no database: send this item?
    - `still_allowed(subscription, user)`: database thread, on every re-check of
      the socket (and at once after `recheck_sockets`): False closes the socket
      with 4403 (access to the object was revoked).
    - `may_receive(subscription, user, items)`: database thread, per event, for the
      items `matches` let through: a bool per item (e.g. read access to each item's
      object, checked when it is sent, not only when the socket subscribed).
    """

    name: str
    frame_type: str
    parse: Callable[[dict, Any], Any]
    groups: Callable[[Any], set[str]]
    permission: str | None = None
    filter_keys: frozenset[str] = frozenset()
    matches: Callable[[Any, dict], bool] = lambda subscription, item: True
    still_allowed: Callable[[Any, Any], bool] | None = None
    may_receive: Callable[[Any, Any, list[dict]], list[bool]] | None = None


_extra_channels: dict[str, LiveChannel] = {}


def register_live_channel(channel: LiveChannel) -> None:
    if channel.name in CHANNELS:
        raise ValueError(f"{channel.name!r} is a built-in live channel")
    _extra_channels[channel.name] = channel


def live_channels() -> tuple[str, ...]:
    return (*CHANNELS, *_extra_channels)


def extra_event(channel: str, items: list[dict], sent_at: str) -> dict:
    """The channel-layer message that carries a registered channel's items."""
    return {"type": "live.extra", "channel": channel, "items": items, "sent_at": sent_at}


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
    """A finite int or float (JSON's NaN, Infinity and 1e400 are not)."""
    return is_finite_number(value)


def parse_subscription(filters, extra_keys: frozenset[str] = frozenset()) -> Subscription:
    """The built-in channels' filters; keys in `extra_keys` belong to registered channels."""
    if filters is None:
        return Subscription()
    if not isinstance(filters, dict):
        raise BadMessage("filters", "must be an object")
    subscription = Subscription()
    stations = filters.get("station_ids", filters.get("stations"))
    if stations is not None:
        if (
            not isinstance(stations, list)
            or len(stations) > MAX_STATION_FILTER
            or not all(isinstance(s, str) and len(s) <= 64 for s in stations)
        ):
            raise BadMessage(
                "filters.station_ids", f"must be a list of at most {MAX_STATION_FILTER} station ids"
            )
        subscription.station_ids = sorted(set(stations))
    frequency_range = filters.get("frequency_range")
    if frequency_range is not None:
        if (
            not isinstance(frequency_range, list)
            or len(frequency_range) != 2
            or not all(_number(v) and 0 <= v <= MAX_FREQUENCY_HZ for v in frequency_range)
            or frequency_range[0] > frequency_range[1]
        ):
            raise BadMessage(
                "filters.frequency_range",
                f"must be [min_hz, max_hz], finite, 0 ≤ min ≤ max ≤ {MAX_FREQUENCY_HZ}",
            )
        subscription.frequency_range = (int(frequency_range[0]), int(frequency_range[1]))
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
        if (
            not isinstance(severities, list)
            or not all(isinstance(v, str) for v in severities)
            or not set(severities) <= valid
        ):
            raise BadMessage("filters.severity", f"must be a list of {', '.join(sorted(valid))}")
        subscription.severities = set(severities)
    unknown = set(filters) - BUILTIN_FILTER_KEYS - extra_keys
    if unknown:
        raise BadMessage(f"filters.{sorted(unknown)[0]}", "unknown filter")
    return subscription


class LiveSignalsConsumer(HeimdallWebSocketConsumer):
    kind_key = "type"
    required_permission = "signals:read"
    handlers = {"subscribe": "on_subscribe", "unsubscribe": "on_unsubscribe"}
    # The live.* handlers never touch the database: no housekeeping thread hop per
    # event (that hop halved the fan-out: docs/performance.md).
    fast_message_prefixes = ("live.",)

    async def authorize(self):
        self.subscriptions: dict[str, Subscription] = {}
        self.extra_subscriptions: dict[str, Any] = {}
        self.joined: set[str] = set()
        return None

    async def opened(self):
        await live.mark_listening()
        self.listening = asyncio.create_task(self._keep_listening())

    async def closed(self, code):
        for group in getattr(self, "joined", set()):
            await self.channel_layer.group_discard(group, self.channel_name)
        task = getattr(self, "listening", None)
        if task:
            task.cancel()

    async def _keep_listening(self):
        while True:
            await asyncio.sleep(live.LISTENERS_REFRESH)
            try:
                await live.mark_listening()
            except Exception:
                logger.warning("could not refresh the live listeners key", exc_info=True)

    async def still_allowed(self):
        user = self.scope["user"]
        for name, subscription in list(self.extra_subscriptions.items()):
            channel = _extra_channels.get(name)
            if channel is None or channel.still_allowed is None:
                continue
            allowed = await database_sync_to_async(channel.still_allowed)(subscription, user)
            if not allowed:
                return CLOSE_FORBIDDEN
        return None

    # --- incoming -------------------------------------------------------------------

    def _channels(self, message, required: bool) -> list[str]:
        channels = message.get("channels")
        known = live_channels()
        if channels is None and not required:
            return [*self.subscriptions, *self.extra_subscriptions]
        if (
            not isinstance(channels, list)
            or not channels
            or not all(isinstance(c, str) and c in known for c in channels)
        ):
            raise BadMessage("channels", f"must be a non-empty list of {', '.join(known)}")
        return channels

    def _groups_for(self, channel: str, subscription: Subscription) -> set[str]:
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
        wanted: set[str] = set()
        for channel, subscription in self.subscriptions.items():
            wanted |= self._groups_for(channel, subscription)
        for name, subscription in self.extra_subscriptions.items():
            wanted |= set(_extra_channels[name].groups(subscription))
        for group in wanted - self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        for group in self.joined - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = wanted

    async def on_subscribe(self, message):
        channels = self._channels(message, required=True)
        filters = message.get("filters")
        extras = [_extra_channels[c] for c in channels if c in _extra_channels]
        extra_keys = frozenset().union(*(c.filter_keys for c in extras)) if extras else frozenset()
        subscription = parse_subscription(filters, extra_keys)
        if extras and len(extras) == len(channels) and isinstance(filters, dict):
            # Only registered channels: a built-in filter would be accepted and do nothing.
            stray = sorted(set(filters) - extra_keys)
            if stray:
                names = ", ".join(channel.name for channel in extras)
                raise BadMessage(f"filters.{stray[0]}", f"not a filter of {names}")
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
        parsed_extras = {}
        user = self.scope["user"]
        for channel in extras:
            if channel.permission:
                allowed = await database_sync_to_async(self._has_permission)(
                    user, channel.permission
                )
                if not allowed:
                    raise BadMessage(
                        "channels", f"your role may not subscribe to {channel.name}",
                        code="PERMISSION_DENIED",
                    )  # fmt: skip
            own = {k: v for k, v in (filters or {}).items() if k in channel.filter_keys}
            parsed_extras[channel.name] = await database_sync_to_async(channel.parse)(own, user)
        for channel in channels:
            if channel in parsed_extras:
                self.extra_subscriptions[channel] = parsed_extras[channel]
            else:
                self.subscriptions[channel] = subscription
        await self._sync_groups()
        echoed = subscription.as_dict()
        for parsed in parsed_extras.values():  # the registered channels' own filters
            if hasattr(parsed, "as_dict"):
                echoed.update(parsed.as_dict())
        self.send_frame(
            {
                "type": "subscribed",
                "channels": sorted([*self.subscriptions, *self.extra_subscriptions]),
                "filters": echoed,
                "timestamp": self.now(),
            }
        )
        if "system_status" in channels:
            snapshot = await database_sync_to_async(live.system_status_snapshot)()
            self.send_frame(
                {"type": "system_status", "data": snapshot, "timestamp": self.now()},
                droppable=True,
            )

    @staticmethod
    def _has_permission(user, permission):
        return get_authority().has_permission(user, permission)

    async def on_unsubscribe(self, message):
        for channel in self._channels(message, required=False):
            self.subscriptions.pop(channel, None)
            self.extra_subscriptions.pop(channel, None)
        await self._sync_groups()
        self.send_frame(
            {
                "type": "unsubscribed",
                "channels": sorted([*self.subscriptions, *self.extra_subscriptions]),
                "timestamp": self.now(),
            }
        )

    # --- channel-layer handlers ------------------------------------------------------

    async def live_detections(self, event):
        subscription = self.subscriptions.get("signal_detections")
        if subscription is None or self._closing:
            return
        for item in event["items"]:
            if subscription.matches_detection(item):
                self.send_frame(
                    encoded_frame("signal_detection", item, event["sent_at"]), droppable=True
                )

    async def live_anomalies(self, event):
        subscription = self.subscriptions.get("anomaly_alerts")
        if subscription is None or self._closing:
            return
        for item in event["items"]:
            if subscription.matches_anomaly(item):
                self.send_frame(
                    {"type": "anomaly_alert", "data": item, "timestamp": event["sent_at"]},
                    droppable=True,
                )

    async def live_system(self, event):
        if "system_status" in self.subscriptions and not self._closing:
            self.send_frame(
                {"type": "system_status", "data": event["data"], "timestamp": self.now()},
                droppable=True,
            )

    async def live_extra(self, event):
        name = event.get("channel")
        subscription = self.extra_subscriptions.get(name)
        channel = _extra_channels.get(name)
        if subscription is None or channel is None or self._closing:
            return
        items = [item for item in event["items"] if channel.matches(subscription, item)]
        if items and channel.may_receive is not None:
            allowed = await database_sync_to_async(channel.may_receive)(
                subscription, self.scope["user"], items
            )
            items = [item for item, ok in zip(items, allowed, strict=True) if ok]
        for item in items:
            self.send_frame(
                {"type": channel.frame_type, "data": item, "timestamp": event["sent_at"]},
                droppable=True,
            )
