from django.contrib import admin
from guardian.admin import GuardedModelAdmin

from apps.constellations import services
from apps.constellations.models import Constellation, ConstellationMember, ConstellationShare
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
