from django.apps import AppConfig


class MlConfig(AppConfig):
    name = "apps.ml"
    label = "ml"
    verbose_name = "Machine-learning models"

    def ready(self):
        from apps.core.health import register_check
        from apps.ml.selectors import anomaly_detector_health

        # Reported in the live feed's system_status (seed 004), not in /health.
        register_check("ml_detector", anomaly_detector_health, in_health=False)
