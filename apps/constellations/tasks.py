"""Background tasks of constellations (apps.core.tasks.dispatch)."""

from apps.constellations import autolocalize


def auto_localize(*, stations: list[str], spans: list[tuple[str, str]]) -> int:
    """Localize co-detections of member stations in the given time spans (autolocalize)."""
    return autolocalize.auto_localize(stations=stations, spans=spans)


def auto_localize_backlog() -> int:
    """Periodic: run the automatic localizations that could not be queued."""
    return autolocalize.backlog_drain()
