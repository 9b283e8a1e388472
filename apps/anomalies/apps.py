from django.apps import AppConfig


class AnomaliesConfig(AppConfig):
    name = "apps.anomalies"
    label = "anomalies"
    verbose_name = "Anomaly events"

    def ready(self):
        from apps.anomalies import selectors
        from apps.core.scheduling import register_periodic
        from apps.stations import activity

        activity.register(
            statistics_fn=selectors.station_anomaly_count,
            history_fn=selectors.station_has_anomalies,
            history_name="anomaly events",
            statistics_many_fn=selectors.stations_anomaly_counts,
        )
        register_periodic(
            "anomalies.close_quiet_events", "apps.anomalies.tasks.close_quiet_events", minutes=1
        )
