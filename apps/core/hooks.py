"""Named hooks: how a lower app tells higher apps that something happened.

Apps import each other in one layer order (docs/architecture.md). When a
lower app must reach a higher one, the higher app registers a receiver here
from its `AppConfig.ready()` and the lower app fires the hook by name:

    hooks.register(hooks.STATION_STATUS_CHANGED, publish_system_status)  # signals
    hooks.fire(hooks.STATION_STATUS_CHANGED)                               # stations

Receivers run synchronously in the firing thread, in registration order;
one that raises is logged and does not stop the others (a hook is a
notification, not part of the caller's transaction).
"""

import logging
from collections import defaultdict
from collections.abc import Callable

logger = logging.getLogger(__name__)

STATION_STATUS_CHANGED = "station_status_changed"  # kwargs: none
DETECTIONS_STORED = "detections_stored"  # kwargs: rows (list[dict]) — after commit

_receivers: dict[str, list[Callable]] = defaultdict(list)


def register(name: str, receiver: Callable) -> None:
    if receiver not in _receivers[name]:
        _receivers[name].append(receiver)


def fire(name: str, **kwargs) -> None:
    for receiver in list(_receivers[name]):
        try:
            receiver(**kwargs)
        except Exception:
            logger.exception("hook %s: receiver %r failed", name, receiver)
