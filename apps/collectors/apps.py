from django.apps import AppConfig


class CollectorsConfig(AppConfig):
    name = "apps.collectors"
    label = "collectors"
    verbose_name = "Receiver collectors"

    def ready(self):
        from apps.collectors.health import check_collectors
        from apps.core.health import register_check

        register_check("websdr_collectors", check_collectors, needs_database=True)
