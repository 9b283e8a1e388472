"""API keys: their format, hash, the roles a key may have, and the user a key acts as.

A key is `hmd_` followed by 43 URL-safe characters (32 random bytes from
`secrets`); the database keeps its SHA-256 and its first 12 characters.
"""

import copy
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from apps.accounts.roles import ROLE_PERMISSIONS, Role, role_of

API_KEY_PREFIX = "hmd_"
DISPLAY_PREFIX_LENGTH = 12
MAX_KEY_LENGTH = 100
# last_used_at is written at most this often per key (seconds): no write per request.
LAST_USED_RESOLUTION = 60


def key_generate() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def looks_like_key(raw: str | bytes | None) -> bool:
    if isinstance(raw, bytes):
        raw = raw.decode("latin1")
    return isinstance(raw, str) and raw.startswith(API_KEY_PREFIX) and len(raw) <= MAX_KEY_LENGTH


def role_within(role: Role, limit: Role | None) -> bool:
    """Whether `role` grants nothing that `limit` does not (a key's role within its creator's)."""
    return limit is not None and set(ROLE_PERMISSIONS[role]) <= set(ROLE_PERMISSIONS[limit])


def roles_grantable_by(user) -> list[Role]:
    limit = role_of(user)
    return [role for role in Role if role_within(role, limit)]


@dataclass(frozen=True)
class ApiKeyAuth:
    """What authenticated a request or socket: `request.auth` for API-key requests."""

    key_id: str
    name: str
    role: Role
    expires_at: datetime | None


def _refuse_save(*args, **kwargs):
    raise RuntimeError("A user acting through an API key is a view of the user: not saved.")


def acting_user(user, role: Role):
    """The user as the key lets them act: with `role`, never more (a copy; the user is unchanged).

    Every role check reads `role_of` (apps.accounts.roles), which returns the
    cached `_heimdall_role`; `is_superuser` / `is_staff` are cleared too for a
    key below admin, so that no check can find more than the key's role.
    """
    acting = copy.copy(user)
    acting._heimdall_role = role
    if role != Role.ADMIN:
        acting.is_superuser = False
        acting.is_staff = False
    acting.save = _refuse_save
    return acting
