"""Roles are Django groups (created by a data migration); each grants permissions.

Viewers read; operators also ingest, acknowledge, create constellations,
generate data and train; admins also manage stations, users and models.
Superusers act as admin.
"""

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"
    COLLECTOR = "collector"  # service accounts of data collectors: ingest only
    TRAINER = "trainer"  # service accounts of external trainers: the worker callbacks


# Highest first: a user in several groups has the highest role.
ROLE_ORDER = [Role.ADMIN, Role.OPERATOR, Role.VIEWER, Role.COLLECTOR, Role.TRAINER]

_READ = [
    "stations:read",
    "signals:read",
    "anomalies:read",
    "statistics:read",
    "constellations:read",
    "models:read",
    "training:read",
    "recordings:read",
]
_OPERATE = [
    "signals:write",
    "anomalies:write",
    "constellations:write",
    "training:write",
    "recordings:write",  # upload, analyze, label and approve clips
    "models:manage",  # create, change, delete and train their own models
]
_ADMINISTER = ["stations:write", "users:write", "models:write", "models:callback"]

ROLE_PERMISSIONS: dict[Role, list[str]] = {
    Role.VIEWER: _READ,
    Role.OPERATOR: _READ + _OPERATE,
    Role.ADMIN: _READ + _OPERATE + _ADMINISTER,
    Role.COLLECTOR: ["stations:read", "signals:write"],
    Role.TRAINER: ["models:read", "models:callback"],
}


def role_of(user) -> Role | None:
    """The user's highest role, or None for anonymous users and users without one."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    cached = getattr(user, "_heimdall_role", "unset")
    if cached != "unset":
        return cached
    if hasattr(user, "_heimdall_role_name"):  # loaded with the user (JWT authentication)
        name = user._heimdall_role_name
        role = Role(name) if name else None
    else:
        names = set(user.groups.values_list("name", flat=True))
        role = next((r for r in ROLE_ORDER if r.value in names), None)
    user._heimdall_role = role
    return role


def permissions_of(user) -> list[str]:
    role = role_of(user)
    return list(ROLE_PERMISSIONS[role]) if role else []


def has_permission(user, permission: str) -> bool:
    return permission in permissions_of(user)


def is_owner_or_admin(user, owner_id) -> bool:
    """Destructive actions on jobs, datasets and models: their creator, or an admin."""
    if role_of(user) == Role.ADMIN:
        return True
    return owner_id is not None and owner_id == getattr(user, "pk", None)
