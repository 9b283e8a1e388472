"""The `localizations` channel of /ws/signals/live, registered from this app's ready().

Every new localization goes to one channel-layer group; each subscribed
connection checks, per event, that its user may still read the localization's
constellation (apps.constellations.access, the one permission check) and that
the event passes its filters: `constellation_ids` (constellations the user
can read) and `frequency_range` [min_hz, max_hz].
"""

import uuid
from dataclasses import dataclass

from apps.constellations.access import restrict
from apps.constellations.models import Constellation
from apps.constellations.representation import localization_payload
from apps.core.events import publish_lazy
from apps.core.timeutil import isoformat_z, utc_now
from apps.signals.consumers import BadMessage, LiveChannel, parse_frequency_range
from apps.signals.live import anyone_listening

CHANNEL = "localizations"
GROUP = "live.localizations"
MESSAGE_TYPE = "localization"


@dataclass(frozen=True)
class LocalizationFilters:
    constellation_ids: frozenset[str] = frozenset()
    frequency_range: tuple[int, int] | None = None

    def as_dict(self) -> dict:
        return {
            "constellation_ids": sorted(self.constellation_ids),
            "frequency_range": list(self.frequency_range) if self.frequency_range else None,
        }


def parse_filters(user, filters: dict) -> LocalizationFilters:
    """The channel's filters from a subscribe message (runs in a thread: reads the database)."""
    raw = filters.get("constellation_ids")
    ids: set[str] = set()
    if raw is not None:
        if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
            raise BadMessage("filters.constellation_ids", "must be a list of constellation ids")
        for value in raw:
            try:
                ids.add(str(uuid.UUID(value)))
            except ValueError:
                raise BadMessage("filters.constellation_ids",
                                 f"unknown constellation '{value}'") from None  # fmt: skip
        visible = {
            str(pk)
            for pk in restrict(Constellation.objects.filter(pk__in=ids), user, "view").values_list(
                "pk", flat=True
            )
        }
        missing = sorted(ids - visible)
        if missing:  # not visible reads as unknown: no existence leak
            raise BadMessage("filters.constellation_ids", f"unknown constellation '{missing[0]}'")
    return LocalizationFilters(frozenset(ids), parse_frequency_range(filters))


def may_receive(user, items: list[dict], filters: LocalizationFilters) -> list[bool]:
    """Which of an event's items this connection gets: its filters, then read access,
    checked now (one query for the event's constellations)."""
    wanted = [
        (not filters.constellation_ids or item["constellation_id"] in filters.constellation_ids)
        and (not filters.frequency_range
             or filters.frequency_range[0] <= item["frequency_hz"] <= filters.frequency_range[1])
        for item in items
    ]  # fmt: skip
    ids = {item["constellation_id"] for item, ok in zip(items, wanted, strict=True) if ok}
    if not ids:
        return wanted
    readable = {
        str(pk)
        for pk in restrict(Constellation.objects.filter(pk__in=ids), user, "view").values_list(
            "pk", flat=True
        )
    }
    return [ok and item["constellation_id"] in readable
            for item, ok in zip(items, wanted, strict=True)]  # fmt: skip


LOCALIZATIONS = LiveChannel(
    name=CHANNEL,
    message_type=MESSAGE_TYPE,
    group=GROUP,
    filter_keys=frozenset(["constellation_ids", "frequency_range"]),
    parse_filters=parse_filters,
    may_receive=may_receive,
)


def publish_localizations(localizations) -> None:
    """Each new localization to the live channel's subscribers, after the current
    transaction commits, without making the caller wait for the send; nothing is built
    while no live client is connected anywhere (apps.signals.live.anyone_listening)."""
    if not localizations or not anyone_listening():
        return

    def build():
        items = [localization_payload(localization) for localization in localizations]
        return [(GROUP, {"type": "live.channel", "channel": CHANNEL, "items": items,
                         "sent_at": isoformat_z(utc_now())})]  # fmt: skip

    publish_lazy(build)
