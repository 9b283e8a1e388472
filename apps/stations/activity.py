"""A station's activity as the apps that store it see it, without importing them.

Detections and anomaly events live in apps above `stations` in the layer
order (docs/architecture.md). Those apps register what they know from their
`AppConfig.ready()`:

- `statistics` — `(station, since, until) -> dict` of seed 004 statistics
  fields (e.g. `total_detections_24h`), merged into the station detail;
- `history` — `(station) -> bool`, whether stored rows reference the station
  (such a station cannot be deleted), with `history_name`, what those rows are
  ("stored detections", "recordings"), for the refusal's message;
- `active_bands` — `(station, since) -> set[str]` of amateur band names heard;
- `statistics_many` — `(station_ids, since, until) -> {station_id: dict}`: the
  `statistics` fields of many stations in one query (lists of stations).
"""

from collections.abc import Callable
from datetime import datetime

statistics: list[Callable[..., dict]] = []
history: list[Callable[..., bool]] = []
history_names: dict[Callable[..., bool], str] = {}
active_bands: list[Callable[..., set[str]]] = []
statistics_many: list[Callable[..., dict]] = []


def register(
    *,
    statistics_fn: Callable[..., dict] | None = None,
    history_fn: Callable[..., bool] | None = None,
    history_name: str = "stored history",
    active_bands_fn: Callable[..., set[str]] | None = None,
    statistics_many_fn: Callable[..., dict] | None = None,
) -> None:
    for registry, fn in (
        (statistics, statistics_fn),
        (history, history_fn),
        (active_bands, active_bands_fn),
        (statistics_many, statistics_many_fn),
    ):
        if fn is not None and fn not in registry:
            registry.append(fn)
    if history_fn is not None:
        history_names[history_fn] = history_name


def collect_statistics(station, since: datetime, until: datetime) -> dict:
    merged: dict = {}
    for fn in statistics:
        merged.update(fn(station=station, since=since, until=until))
    return merged


def collect_statistics_many(station_ids: list[str], since: datetime, until: datetime) -> dict:
    """{station_id: merged statistics} for many stations, one query per registered app."""
    merged: dict[str, dict] = {station_id: {} for station_id in station_ids}
    for fn in statistics_many:
        for station_id, values in fn(station_ids=station_ids, since=since, until=until).items():
            merged.setdefault(station_id, {}).update(values)
    return merged


def has_history(station) -> bool:
    return stored_history(station) is not None


def stored_history(station) -> str | None:
    """What stored rows reference the station (the first app's name for them), or None."""
    return next((history_names[fn] for fn in history if fn(station=station)), None)


def bands_heard(station, since: datetime) -> set[str]:
    found: set[str] = set()
    for fn in active_bands:
        found |= fn(station=station, since=since)
    return found
