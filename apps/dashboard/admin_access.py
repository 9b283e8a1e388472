"""The `admin` role's Django model permissions, so a role-admin who is not a superuser
can use /admin/ (roles are groups: apps.accounts.roles).

Run after every `migrate` (post_migrate of this app, the last installed: by then
django.contrib.auth has created the permissions of every model), so models added
later are covered without a new data migration. Idempotent.
"""

from django.db import DEFAULT_DB_ALIAS

# Beyond Heimdall's own models: see the role groups and the task queue, change nothing there.
VIEW_ONLY_APPS = ("auth", "django_q")


def heimdall_app_labels() -> tuple[str, ...]:
    """Every installed Heimdall app (`apps.*`): read from the registry, so a new app's
    models are the admin role's without a list to forget (recordings was missing)."""
    from django.apps import apps

    return tuple(c.label for c in apps.get_app_configs() if c.name.startswith("apps."))


def admin_group_permissions(permissions):
    """The permissions (from the `permissions` manager or queryset) the admin role holds."""
    from django.db.models import Q

    return permissions.filter(
        Q(content_type__app_label__in=heimdall_app_labels())
        | Q(content_type__app_label__in=VIEW_ONLY_APPS, codename__startswith="view_")
    )


def grant_admin_group_permissions(*, using: str = DEFAULT_DB_ALIAS, **kwargs) -> int:
    """Give the `admin` group every permission of Heimdall's models (created if missing);
    returns how many the group holds."""
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.using(using).get_or_create(name="admin")
    permissions = list(admin_group_permissions(Permission.objects.db_manager(using)))
    group.permissions.add(*permissions)
    return group.permissions.count()


def on_post_migrate(sender, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    grant_admin_group_permissions(using=using)
