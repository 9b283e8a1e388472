"""The collectors' health check: are the active stations being heard from?"""

from datetime import timedelta

from django.conf import settings

from apps.core.health import DEGRADED, HEALTHY, UNHEALTHY
from apps.core.timeutil import utc_now
from apps.stations.selectors import station_freshness


def check_collectors() -> str:
    """Healthy when every active station was heard from within HEIMDALL_COLLECTOR_STALE_SECONDS."""
    fresh, total = station_freshness(
        stale_after=timedelta(seconds=settings.HEIMDALL_COLLECTOR_STALE_SECONDS),
        now=utc_now(),
    )
    if total == 0 or fresh == total:
        return HEALTHY
    return DEGRADED if fresh else UNHEALTHY
