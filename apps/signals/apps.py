from django.apps import AppConfig


class SignalsConfig(AppConfig):
    name = "apps.signals"
    label = "signals"
    verbose_name = "Signal detections"

    def ready(self):
        from apps.core import hooks
        from apps.core.scheduling import register_periodic
        from apps.signals import live, selectors
        from apps.stations import activity

        register_periodic(
            "signals.maintain_partitions", "apps.signals.tasks.maintain_partitions", minutes=60
        )
        register_periodic(
            "signals.apply_retention", "apps.signals.tasks.apply_retention", minutes=60
        )
        activity.register(
            statistics_fn=selectors.station_detection_count,
            history_fn=selectors.station_has_detections,
            history_name="stored detections",
            active_bands_fn=selectors.station_bands_heard,
            statistics_many_fn=selectors.stations_detection_counts,
        )
        hooks.register(
            hooks.STATION_STATUS_CHANGED, lambda: live.publish_system_status(after_commit=False)
        )
