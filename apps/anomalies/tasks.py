"""Background work of the anomalies app."""

from apps.anomalies.services import anomaly_events_close_quiet


def close_quiet_events() -> int:
    """Periodic: close the open events quiet for HEIMDALL_ANOMALY_EVENT_QUIET_SECONDS."""
    return anomaly_events_close_quiet()
