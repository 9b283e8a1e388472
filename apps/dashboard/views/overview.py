"""`/`: service health, stations, detections per minute, anomalies; refreshed live."""

from datetime import timedelta

from apps.anomalies.filters import AnomalyFilterSet
from apps.anomalies.models import AnomalyEvent
from apps.anomalies.selectors import anomaly_list, anomaly_summary
from apps.core.health import system_health
from apps.core.timeutil import utc_now
from apps.dashboard.views.base import ConsoleView, is_htmx
from apps.signals.statistics import detection_counts_over_time
from apps.stations.selectors import station_counts, station_list

NEWEST_ANOMALIES = 10


def newest_unacknowledged(limit: int = NEWEST_ANOMALIES) -> list[AnomalyEvent]:
    """Through the anomaly list's own FilterSet (the API's `acknowledged=false`)."""
    filterset = AnomalyFilterSet({"acknowledged": "false"}, queryset=anomaly_list())
    return list(filterset.validated_queryset().select_related("station")[:limit])


class OverviewView(ConsoleView):
    read_permission = "statistics:read"
    nav = "overview"

    def get(self, request):
        now = utc_now()
        since = now - timedelta(hours=24)
        context = {
            "stations": station_counts(station_list()),
            "per_minute": detection_counts_over_time(
                since=now - timedelta(hours=1), until=now, bucket_seconds=60
            ),
            "anomalies_24h": anomaly_summary(
                AnomalyEvent.objects.filter(created_at__gte=since, created_at__lte=now)
            ),
            "newest_anomalies": newest_unacknowledged(),
            "now": now,
        }
        if is_htmx(request):  # the periodic refresh: counters and table only
            return self.render(request, "dashboard/partials/overview_stats.html", **context)
        return self.render(request, "dashboard/overview.html", **context)


class HealthPartView(ConsoleView):
    """Service health, loaded after the page (the checks round-trip every service)."""

    read_permission = "statistics:read"

    def get(self, request):
        overall, services = system_health()
        return self.render(
            request, "dashboard/partials/health.html", overall=overall, services=services
        )
