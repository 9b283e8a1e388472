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
from apps.core.consumers import BadMessage
from apps.core.events import publish_lazy
from apps.core.timeutil import isoformat_z, utc_now
from apps.signals.consumers import LiveChannel, extra_event, parse_subscription
from apps.signals.live import anyone_listening

CHANNEL = "localizations"
GROUP = "live.localizations"
MESSAGE_TYPE = "localization"


@dataclass(frozen=True)
class LocalizationFilters:
    constellation_ids: frozenset[str] = frozenset()
    frequency_range: tuple[int, int] | None = None

    def as_dict(self) -> dict:
        """As the `subscribed` reply echoes them."""
        return {
            "constellation_ids": sorted(self.constellation_ids),
            "frequency_range": list(self.frequency_range) if self.frequency_range else None,
        }


def _readable(user, ids) -> set[str]:
    """Which of these constellation ids `user` may read now (the one permission check)."""
    return {
        str(pk)
        for pk in restrict(Constellation.objects.filter(pk__in=ids), user, "view").values_list(
            "pk", flat=True
        )
    }


def parse_filters(filters: dict, user) -> LocalizationFilters:
    """The channel's filters from a subscribe message (a database thread): constellation ids
    the user can read (any other reads as unknown: no existence leak), a frequency range
    (the built-in channels' rule)."""
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
        missing = sorted(ids - _readable(user, ids))
        if missing:
            raise BadMessage("filters.constellation_ids", f"unknown constellation '{missing[0]}'")
    frequency_range = parse_subscription(
        {"frequency_range": filters.get("frequency_range")}
    ).frequency_range
    return LocalizationFilters(frozenset(ids), frequency_range)


def matches(filters: LocalizationFilters, item: dict) -> bool:
    """The subscription's own filters (no database: on the event loop)."""
    if filters.constellation_ids and item["constellation_id"] not in filters.constellation_ids:
        return False
    return not filters.frequency_range or (
        filters.frequency_range[0] <= item["frequency_hz"] <= filters.frequency_range[1]
    )


def may_receive(filters: LocalizationFilters, user, items: list[dict]) -> list[bool]:
    """Per event: read access to each item's constellation, now (one query per event)."""
    readable = _readable(user, {item["constellation_id"] for item in items})
    return [item["constellation_id"] in readable for item in items]


def still_allowed(filters: LocalizationFilters, user) -> bool:
    """On the socket's re-checks: every constellation it named is still readable."""
    ids = filters.constellation_ids
    return not ids or _readable(user, ids) == set(ids)


LOCALIZATIONS = LiveChannel(
    name=CHANNEL,
    frame_type=MESSAGE_TYPE,
    parse=parse_filters,
    groups=lambda filters: {GROUP},
    permission="constellations:read",
    filter_keys=frozenset(["constellation_ids", "frequency_range"]),
    matches=matches,
    still_allowed=still_allowed,
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
        return [(GROUP, extra_event(CHANNEL, items, isoformat_z(utc_now())))]

    publish_lazy(build)
