from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from apps.accounts.models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "display_name", "role_names", "is_active", "last_login"]
    list_filter = ["groups", "is_active", "is_staff", "is_superuser"]
    search_fields = ["username", "email", "display_name", "first_name", "last_name"]
    fieldsets = (*DjangoUserAdmin.fieldsets, ("Heimdall", {"fields": ("display_name",)}))

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:  # a role-admin cannot make anyone a superuser
            fields += ["is_superuser", "user_permissions"]
        return fields

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="roles")
    def role_names(self, user):
        return ", ".join(group.name for group in user.groups.all()) or "-"
