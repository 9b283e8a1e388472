"""DRF permission classes built on roles (apps.accounts.roles)."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from apps.accounts.roles import has_permission, role_of


class RoleReadWrite(BasePermission):
    """The default for every API view.

    A view names its `resource` ("stations", "signals", ...): reading needs
    `<resource>:read`, writing `<resource>:write`. A view may name a different
    permission per action through `write_permission` / `read_permission`.
    Without a resource, any user with a role may use the view.
    """

    message = "Your role does not allow this action."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False  # DRF turns this into 401 AUTHENTICATION_REQUIRED
        if role_of(user) is None:
            return False
        resource = getattr(view, "resource", None)
        if resource is None:
            return True
        if request.method in SAFE_METHODS:
            needed = getattr(view, "read_permission", None) or f"{resource}:read"
        else:
            needed = getattr(view, "write_permission", None) or f"{resource}:write"
        return has_permission(user, needed)
