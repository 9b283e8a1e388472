from django.contrib import admin

from apps.recordings.models import Recording, RecordingClip


class ClipInline(admin.TabularInline):
    model = RecordingClip
    extra = 0
    fields = [
        "sample_start",
        "sample_count",
        "freq_lower_edge",
        "freq_upper_edge",
        "label",
        "snr_db",
        "source",
        "approved",
    ]
    readonly_fields = ["snr_db", "source"]


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    """Uploads go through the API (validation, storage): the admin reads and labels."""

    list_display = ["name", "station", "start_time", "datatype", "sample_rate", "analysis_status"]
    list_filter = ["analysis_status", "datatype"]
    search_fields = ["name", "station__id"]
    readonly_fields = [
        f.name for f in Recording._meta.fields if f.name not in ("name", "description")
    ]
    inlines = [ClipInline]

    def has_add_permission(self, request):
        return False
