from django.apps import AppConfig


class ConstellationsConfig(AppConfig):
    name = "apps.constellations"
    label = "constellations"
    verbose_name = "Constellations"
