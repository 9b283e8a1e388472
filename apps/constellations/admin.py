from django.contrib import admin
from guardian.admin import GuardedModelAdmin

from apps.constellations import services
from apps.constellations.models import (
    AutoLocalizeBacklog,
    Constellation,
    ConstellationMember,
    ConstellationShare,
    Localization,
    ReferenceTransmitter,
)
from apps.core.bands import MAX_FREQUENCY_HZ
from apps.core.text import NormalizedTextAdminMixin


class MemberInline(admin.TabularInline):
    model = ConstellationMember
    extra = 0
    autocomplete_fields = ["station"]
    readonly_fields = ["added_at", "added_by"]


class ShareInline(admin.TabularInline):
    model = ConstellationShare
    fk_name = "constellation"
    extra = 0
    readonly_fields = ["shared_by", "shared_at", "updated_at"]
    # Shares carry object permissions: change them through the API, where the
    # service keeps both in step.
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Constellation)
class ConstellationAdmin(NormalizedTextAdminMixin, GuardedModelAdmin):
    """With guardian's per-object permission admin ("Object permissions" button)."""

    normalized_text_fields = {"name": False, "description": True}

    list_display = ["name", "owner", "member_count", "created_at", "updated_at"]
    list_filter = ["created_at"]
    search_fields = ["name", "description", "owner__username"]
    list_select_related = ["owner"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [MemberInline, ShareInline]

    def save_model(self, request, obj, form, change):
        """Through the services, so a new constellation's owner gets their object permissions."""
        if change:
            changed = {
                k: getattr(obj, k) for k in ("name", "description") if k in form.changed_data
            }
            services.constellation_update(constellation=obj, **changed)
            if "owner" in form.changed_data:
                obj.save(update_fields=["owner"])
        else:
            created = services.constellation_create(
                owner=obj.owner, name=obj.name, description=obj.description
            )
            obj.pk = created.pk
            obj._state.adding = False
            obj.refresh_from_db()

    @admin.display(description="members")
    def member_count(self, constellation):
        return constellation.members.count()


@admin.register(ConstellationShare)
class ConstellationShareAdmin(admin.ModelAdmin):
    list_display = ["constellation", "user", "permission", "shared_by", "shared_at"]
    list_filter = ["permission"]
    search_fields = ["constellation__name", "user__username"]
    list_select_related = ["constellation", "user", "shared_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# Bounds of the API (ReferenceTransmitterSerializer), so the admin form refuses what the API
# refuses; Django's float fields also refuse NaN and infinities.
REFERENCE_BOUNDS = {
    "latitude": (-90, 90),
    "longitude": (-180, 180),
    "frequency_hz": (1, MAX_FREQUENCY_HZ),
    "bandwidth_hz": (1, 10_000_000),
    "tx_power_dbm": (-50, 100),
}


@admin.register(ReferenceTransmitter)
class ReferenceTransmitterAdmin(NormalizedTextAdminMixin, admin.ModelAdmin):
    """Transmitters of known position whose localizations calibrate the stations
    (docs/localization.md); writes through the services, as the API's."""

    normalized_text_fields = {"name": False, "notes": True}
    list_display = ["name", "frequency_hz", "bandwidth_hz", "latitude", "longitude",
                    "tx_power_dbm", "active", "updated_at"]  # fmt: skip
    list_filter = ["active"]
    search_fields = ["name", "notes"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    actions = ["delete_through_service"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name in REFERENCE_BOUNDS:
            kwargs["min_value"], kwargs["max_value"] = REFERENCE_BOUNDS[db_field.name]
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # would bypass the service (cache, events)
        return actions

    def save_model(self, request, obj, form, change):
        fields = {name: getattr(obj, name) for name in services.REFERENCE_FIELDS}
        if change:
            changed = {k: v for k, v in fields.items() if k in form.changed_data}
            services.reference_transmitter_update(reference=obj, **changed)
        else:
            created = services.reference_transmitter_create(created_by=request.user, **fields)
            obj.pk = created.pk
            obj._state.adding = False
            obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.reference_transmitter_delete(reference=obj)

    @admin.action(description="Delete selected reference transmitters", permissions=["delete"])
    def delete_through_service(self, request, queryset):
        for reference in queryset:
            services.reference_transmitter_delete(reference=reference)


@admin.register(Localization)
class LocalizationAdmin(admin.ModelAdmin):
    """Stored fixes, read-only: made by POST .../localize and automatically."""

    list_display = ["created_at", "constellation", "frequency_hz", "method", "trigger",
                    "latitude", "longitude", "cep50_m", "gdop"]  # fmt: skip
    list_filter = ["method", "trigger", "created_at"]
    search_fields = ["constellation__name", "=frequency_hz"]
    list_select_related = ["constellation"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AutoLocalizeBacklog)
class AutoLocalizeBacklogAdmin(admin.ModelAdmin):
    """Automatic localizations waiting for the periodic drain (their task could not be
    queued): read-only; deleting one gives its fix up."""

    list_display = ["created_at", "stations", "spans", "attempts"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
