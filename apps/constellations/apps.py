from django.apps import AppConfig


class ConstellationsConfig(AppConfig):
    name = "apps.constellations"
    label = "constellations"
    verbose_name = "Constellations"

    def ready(self):
        from apps.constellations.autolocalize import on_detections_stored
        from apps.constellations.live import LOCALIZATIONS
        from apps.core import hooks
        from apps.core.scheduling import register_periodic
        from apps.signals.consumers import register_live_channel

        # Automatic localization from co-detections (after each ingest commit).
        hooks.register(hooks.DETECTIONS_STORED, on_detections_stored)
        # Those whose task could not be queued (the broker unreachable), kept in the database.
        register_periodic(
            "constellations.auto_localize_backlog",
            "apps.constellations.tasks.auto_localize_backlog",
            minutes=1,
        )
        # The `localizations` channel of /ws/signals/live.
        register_live_channel(LOCALIZATIONS)
