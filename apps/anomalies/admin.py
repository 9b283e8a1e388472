from django.contrib import admin

from apps.anomalies.models import AnomalyEvent
from apps.core.text import NormalizedTextAdminMixin


@admin.register(AnomalyEvent)
class AnomalyEventAdmin(NormalizedTextAdminMixin, admin.ModelAdmin):
    normalized_text_fields = {"notes": True, "description": False}

    list_display = [
        "created_at",
        "station",
        "frequency_hz",
        "event_type",
        "severity",
        "anomaly_score",
        "acknowledged",
        "acknowledged_by",
    ]
    list_filter = ["severity", "acknowledged", "event_type", "station"]
    search_fields = ["=id", "=detection_id", "description", "notes"]
    date_hierarchy = "created_at"
    list_select_related = ["station", "acknowledged_by"]
    readonly_fields = ["created_at", "acknowledged_at", "acknowledged_by"]
