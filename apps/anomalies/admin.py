from django.contrib import admin

from apps.anomalies.models import AnomalyEvent
from apps.anomalies.services import anomaly_acknowledge
from apps.core.exceptions import HeimdallError
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
    readonly_fields = ["created_at", "acknowledged", "acknowledged_at", "acknowledged_by"]
    actions = ["acknowledge"]

    @admin.action(description="Acknowledge the selected anomalies", permissions=["change"])
    def acknowledge(self, request, queryset):
        for event in queryset:
            try:
                anomaly_acknowledge(event_id=event.pk, user=request.user, notes="")
            except HeimdallError as exc:
                self.message_user(request, f"{event.pk}: {exc.message}", level="warning")
