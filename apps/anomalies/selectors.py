from django.db.models import Count, Q

from apps.anomalies.models import AnomalyEvent


def anomaly_list():
    """Every anomaly event, newest first (AnomalyFilterSet narrows it, a paginator pages it)."""
    return AnomalyEvent.objects.order_by("-created_at", "-id")


def anomaly_summary(queryset) -> dict:
    """Seed 004's `summary` block for a (filtered) set of events, in one query."""
    severities = AnomalyEvent.Severity.values
    counts = queryset.order_by().aggregate(
        total=Count("id"),
        acknowledged_count=Count("id", filter=Q(acknowledged=True)),
        **{f"sev_{name}": Count("id", filter=Q(severity=name)) for name in severities},
    )
    return {
        "total_anomalies": counts["total"],
        "by_severity": {
            name: counts[f"sev_{name}"] for name in ["critical", "high", "medium", "low"]
        },
        "acknowledged_count": counts["acknowledged_count"],
        "unacknowledged_count": counts["total"] - counts["acknowledged_count"],
    }


def station_anomaly_count(*, station, since, until) -> dict:
    """Seed 004's `anomalies_detected_24h` for a station over [since, until]."""
    return {
        "anomalies_detected_24h": AnomalyEvent.objects.filter(
            station=station, detection_timestamp__gte=since, detection_timestamp__lte=until
        ).count()
    }


def station_has_anomalies(*, station) -> bool:
    return AnomalyEvent.objects.filter(station=station).exists()
