from django.contrib import admin

from apps.stations.models import Station, StationCheck
from apps.stations.selectors import station_has_history


@admin.register(Station)
class StationAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "location",
        "status",
        "connection_status",
        "frequency_min",
        "frequency_max",
        "calibration_offset_db",
        "last_seen",
    ]
    list_filter = ["status", "connection_status"]
    search_fields = ["id", "name", "location", "url"]
    readonly_fields = ["created_at", "updated_at", "last_seen"]
    ordering = ["id"]
    actions = ["mark_active", "mark_inactive"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Bulk delete would bypass the check that a station has no history.
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        # A station with stored detections is retired (status inactive), not deleted.
        if obj is not None and station_has_history(obj):
            return False
        return super().has_delete_permission(request, obj)

    @admin.action(description="Mark selected stations active")
    def mark_active(self, request, queryset):
        queryset.update(status=Station.Status.ACTIVE)

    @admin.action(description="Mark selected stations inactive")
    def mark_inactive(self, request, queryset):
        queryset.update(status=Station.Status.INACTIVE)


@admin.register(StationCheck)
class StationCheckAdmin(admin.ModelAdmin):
    list_display = ["station", "checked_at", "ok", "response_time_ms", "error"]
    list_filter = ["ok", "station"]
    search_fields = ["station__id", "error"]
    date_hierarchy = "checked_at"
    list_select_related = ["station"]
