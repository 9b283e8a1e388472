"""WebSocket authentication: `?token=<access JWT or API key>` or the session cookie.

Token clients (the SDK, websocat, scripts) send no Origin and need none: a
token is not ambient. A session-cookie connection must come from an allowed
Origin, or any web page could open a socket with the user's cookie
(cross-site WebSocket hijacking): the Origin's scheme, host and port must be
the socket's own (what the browser addressed: the Host header, and `wss`
↔ `https`, with X-Forwarded-Proto/-Host believed only from
HEIMDALL_TRUSTED_PROXIES) or one of DJANGO_CSRF_TRUSTED_ORIGINS, as
Django's CSRF check compares them for HTTPS.

A failed check leaves the user anonymous and says why in
`scope["auth_error"]`; consumers close with 4401. What proved the user is
in `scope["auth"]` (method, expires_at, key_id): the base consumer
(apps.core.consumers) closes the socket when it expires and re-checks it
through `AccountsWebSocketAuthority`, registered from AccountsConfig.ready().
"""

from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host
from django.utils.crypto import constant_time_compare
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from apps.accounts.api_keys import looks_like_key, role_within
from apps.accounts.authentication import (
    HeimdallJWTAuthentication,
    api_key_authenticate,
)
from apps.accounts.roles import has_permission, role_of
from apps.core.outages import unavailable_reason
from apps.core.proxies import is_trusted_proxy, websocket_scheme

_DEFAULT_PORTS = {"http": 80, "https": 443}


def authenticate_token(raw: str):
    """(user, auth) for an access JWT or an API key, or (AnonymousUser, None)."""
    if looks_like_key(raw):
        found = api_key_authenticate(raw)
        if found is None:
            return AnonymousUser(), None
        user, key = found
        expires = key.expires_at.timestamp() if key.expires_at else None
        return user, {"method": "api_key", "expires_at": expires, "key_id": key.key_id}
    authenticator = HeimdallJWTAuthentication()
    try:
        token = authenticator.get_validated_token(raw.encode())
        user = authenticator.get_user(token)
    except (InvalidToken, TokenError):
        return AnonymousUser(), None
    except Exception as exc:  # user gone or inactive
        if unavailable_reason(exc):
            raise  # not the client's fault: websocket_outage_guard closes with 4503
        return AnonymousUser(), None
    return user, {"method": "jwt", "expires_at": float(token["exp"]), "key_id": None}


# --- Origin ---------------------------------------------------------------------------


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin1")
    return None


def origin_triple(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin URL, the port filled in from the scheme."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def _own_origin(scope) -> tuple[str, str, int] | None:
    host = _header(scope, b"host")
    peer = scope.get("heimdall.peer") or (scope.get("client") or [None])[0]
    if settings.USE_X_FORWARDED_HOST and is_trusted_proxy(peer):
        host = (_header(scope, b"x-forwarded-host") or host or "").split(",")[0].strip()
    if not host:
        return None
    scheme = "https" if websocket_scheme(scope) == "wss" else "http"
    own = origin_triple(f"{scheme}://{host}")
    if own is None or not validate_host(own[1], settings.ALLOWED_HOSTS):
        return None
    return own


def _trusted_origin(origin: tuple[str, str, int]) -> bool:
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        scheme, _, rest = entry.partition("://")
        wildcard = rest.startswith("*.")
        trusted = origin_triple(f"{scheme}://{rest[2:] if wildcard else rest}")
        if trusted is None or trusted[0] != origin[0] or trusted[2] != origin[2]:
            continue
        if trusted[1] == origin[1] or (wildcard and origin[1].endswith("." + trusted[1])):
            return True
    return False


def origin_allowed(scope) -> bool:
    raw = _header(scope, b"origin")
    origin = origin_triple(raw) if raw else None
    if origin is None:
        return False
    return origin == _own_origin(scope) or _trusted_origin(origin)


# --- re-checks ------------------------------------------------------------------------


def _session_user(scope):
    session = scope.get("session")
    key = getattr(session, "session_key", None)
    if not key:
        return None
    from importlib import import_module

    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
    user_id = store.get("_auth_user_id")
    if user_id is None or str(user_id) != str(scope["user"].pk):
        return None  # logged out, expired, or someone else now
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None
    if not constant_time_compare(store.get("_auth_user_hash", ""), user.get_session_auth_hash()):
        return None  # the password changed: Django ends such sessions too
    return user


def _api_key_user(scope):
    from apps.accounts.api_keys import acting_user
    from apps.accounts.models import ApiKey
    from apps.accounts.roles import Role
    from apps.core.timeutil import utc_now

    key_id = (scope.get("auth") or {}).get("key_id")
    key = ApiKey.objects.select_related("user").filter(pk=key_id).first()
    if key is None or key.revoked_at is not None or not key.user.is_active:
        return None
    if key.expires_at is not None and key.expires_at <= utc_now():
        return None
    role = Role(key.role)
    if not role_within(role, role_of(key.user)):
        return None
    return acting_user(key.user, role)


def _jwt_user(scope):
    user_id = scope["user"].pk
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or role_of(user) is None:
        return None
    return user


class AccountsWebSocketAuthority:
    """apps.core.consumers.WebSocketAuthority for Heimdall's users, roles and keys."""

    def current_user(self, scope):
        method = (scope.get("auth") or {}).get("method")
        if method == "api_key":
            return _api_key_user(scope)
        if method == "session":
            return _session_user(scope)
        return _jwt_user(scope)

    def has_permission(self, user, permission: str) -> bool:
        return has_permission(user, permission)

    def reauthenticate(self, scope, raw_token: str):
        user, auth = authenticate_token(raw_token)
        if auth is None:
            return None
        return user, auth


# --- the middleware -------------------------------------------------------------------


def _session_expiry(scope) -> float | None:
    try:
        return scope["session"].get_expiry_date().timestamp()
    except Exception:
        return None


class TokenOrSessionGate:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        tokens = parse_qs(scope.get("query_string", b"").decode("latin1")).get("token")
        if tokens:
            user, auth = await database_sync_to_async(authenticate_token)(tokens[0])
            scope["user"], scope["auth"] = user, auth
            scope["auth_error"] = None if auth else "invalid_token"
            scope["auth_method"] = "token"
        elif scope.get("user") is not None and scope["user"].is_authenticated:
            scope["auth_method"] = "session"
            if not origin_allowed(scope):
                scope["user"], scope["auth_error"] = AnonymousUser(), "origin_not_allowed"
            else:
                expires = await database_sync_to_async(_session_expiry)(scope)
                scope["auth"] = {"method": "session", "expires_at": expires, "key_id": None}
        else:
            scope["auth_error"] = "authentication_required"
        return await self.inner(scope, receive, send)


def HeimdallWebSocketAuth(inner):
    return AuthMiddlewareStack(TokenOrSessionGate(inner))
