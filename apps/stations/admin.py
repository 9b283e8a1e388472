from django.contrib import admin

from apps.core.exceptions import HeimdallError
from apps.core.text import NormalizedTextAdminMixin
from apps.stations import services
from apps.stations.models import Station, StationCheck
from apps.stations.selectors import station_has_history


@admin.register(Station)
class StationAdmin(NormalizedTextAdminMixin, admin.ModelAdmin):
    normalized_text_fields = {"name": False, "location": False}

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

    # Writes go through apps.stations.services, as the API's do (status events included).
    def save_model(self, request, obj, form, change):
        fields = {name: getattr(obj, name) for name in services.EDITABLE_FIELDS}
        if change:
            changed = {k: v for k, v in fields.items() if k in form.changed_data}
            services.station_update(station=obj, **changed)
        else:
            services.station_create(id=obj.id, **fields)

    def delete_model(self, request, obj):
        services.station_delete(station=obj)

    def _set_status(self, request, queryset, status: str) -> None:
        for station in queryset:
            try:
                services.station_update(station=station, status=status)
            except HeimdallError as exc:
                self.message_user(request, f"{station.id}: {exc.message}", level="error")

    @admin.action(description="Mark selected stations active", permissions=["change"])
    def mark_active(self, request, queryset):
        self._set_status(request, queryset, Station.Status.ACTIVE)

    @admin.action(description="Mark selected stations inactive", permissions=["change"])
    def mark_inactive(self, request, queryset):
        self._set_status(request, queryset, Station.Status.INACTIVE)


@admin.register(StationCheck)
class StationCheckAdmin(admin.ModelAdmin):
    list_display = ["station", "checked_at", "ok", "response_time_ms", "error"]
    list_filter = ["ok", "station"]
    search_fields = ["station__id", "error"]
    date_hierarchy = "checked_at"
    list_select_related = ["station"]
