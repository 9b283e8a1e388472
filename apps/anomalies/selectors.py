from django.db.models import Count, Q

from apps.anomalies.models import AnomalyEvent


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
