"""WebSocket authentication: `?token=<access JWT>` or the session cookie.

Token clients (the SDK, websocat, scripts) send no Origin and need none: a
token is not ambient. A session-cookie connection must come from an allowed
Origin, or any web page could open a socket with the user's cookie
(cross-site WebSocket hijacking). A failed check leaves the user anonymous
and says why in `scope["auth_error"]`; consumers close with 4401.
"""

from urllib.parse import parse_qs, urlparse

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from apps.accounts.authentication import HeimdallJWTAuthentication
from apps.core.outages import unavailable_reason


@database_sync_to_async
def _user_for_token(raw: str):
    authenticator = HeimdallJWTAuthentication()
    try:
        token = authenticator.get_validated_token(raw.encode())
        return authenticator.get_user(token), None
    except (InvalidToken, TokenError):
        return AnonymousUser(), "invalid_token"
    except Exception as exc:  # user gone or inactive
        if unavailable_reason(exc):
            raise  # not the client's fault: websocket_outage_guard closes with 4503
        return AnonymousUser(), "invalid_token"


def _origin_allowed(scope) -> bool:
    origin = dict(scope.get("headers", [])).get(b"origin")
    if not origin:
        return False
    host = urlparse(origin.decode("latin1")).hostname or ""
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG:
        allowed += ["localhost", "127.0.0.1", "[::1]"]
    return validate_host(host, allowed)


class TokenOrSessionGate:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        tokens = parse_qs(scope.get("query_string", b"").decode("latin1")).get("token")
        if tokens:
            scope["user"], scope["auth_error"] = await _user_for_token(tokens[0])
            scope["auth_method"] = "token"
        elif scope.get("user") is not None and scope["user"].is_authenticated:
            scope["auth_method"] = "session"
            if not _origin_allowed(scope):
                scope["user"], scope["auth_error"] = AnonymousUser(), "origin_not_allowed"
        else:
            scope["auth_error"] = "authentication_required"
        return await self.inner(scope, receive, send)


def HeimdallWebSocketAuth(inner):
    return AuthMiddlewareStack(TokenOrSessionGate(inner))
