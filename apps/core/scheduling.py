"""Periodic tasks: one registry, filled by the apps, run by django-q2 or a thread.

Production: `post_migrate` keeps one django-q2 `Schedule` row per entry, and
the qcluster runs them. Embedded mode: `start_inprocess_scheduler()` (called
from the ASGI app) runs them on a daemon thread through the in-process workers.
"""

import logging
import threading
import time
from dataclasses import dataclass

from apps.core import tasks

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    name: str
    func: str
    minutes: int


# Filled by each app's AppConfig.ready() through register_periodic().
PERIODIC_TASKS: list[Periodic] = []


def register_periodic(name: str, func: str, *, minutes: int) -> None:
    """Run dotted path `func` every `minutes` (django-q2 Schedule, or the embedded thread)."""
    PERIODIC_TASKS[:] = [p for p in PERIODIC_TASKS if p.name != name]
    PERIODIC_TASKS.append(Periodic(name, func, minutes))


def sync_django_q_schedules(**kwargs) -> None:
    """Create or update a Schedule per periodic task (a post_migrate receiver)."""
    from django_q.models import Schedule

    for periodic in PERIODIC_TASKS:
        Schedule.objects.update_or_create(
            name=periodic.name,
            # Through tasks.run like every task: an outage mid-run is outlasted, not a
            # failure that loses the run.
            defaults={
                "func": tasks.RUNNER,
                "args": repr(periodic.func),
                "schedule_type": Schedule.MINUTES,
                "minutes": periodic.minutes,
                "repeats": -1,
            },
        )


_started = threading.Event()


def start_inprocess_scheduler() -> None:
    """Run PERIODIC_TASKS on a daemon thread (embedded mode only); idempotent."""
    if _started.is_set():
        return
    _started.set()

    def loop():
        next_run = {periodic.name: 0.0 for periodic in PERIODIC_TASKS}
        while True:
            now = time.monotonic()
            for periodic in PERIODIC_TASKS:
                if now >= next_run.get(periodic.name, 0.0):
                    next_run[periodic.name] = now + periodic.minutes * 60
                    try:
                        tasks.submit_now(periodic.func)
                    except Exception:  # the thread must outlive any one submission
                        logger.exception("could not submit periodic task %s", periodic.name)
            time.sleep(5)

    threading.Thread(target=loop, name="heimdall-scheduler", daemon=True).start()
