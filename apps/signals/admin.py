from django.contrib import admin

from apps.signals.models import SignalDetection


@admin.register(SignalDetection)
class SignalDetectionAdmin(admin.ModelAdmin):
    list_display = [
        "detection_timestamp",
        "websdr_station",
        "frequency_hz",
        "signal_strength_db",
        "modulation_type",
        "anomaly_score",
        "is_anomaly",
    ]
    list_filter = ["is_anomaly", "modulation_type", "websdr_station"]
    search_fields = ["=id", "=frequency_hz"]
    date_hierarchy = "detection_timestamp"
    list_select_related = ["websdr_station"]
    # Counting hundreds of millions of rows for the paginator would take minutes.
    show_full_result_count = False
    readonly_fields = ["created_at", "updated_at"]
