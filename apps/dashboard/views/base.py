"""What every console page shares: the role gate, errors as pages, the write controls.

A page names the role permission (apps.accounts.roles) needed to read it and,
when it takes POSTs, the one needed to write. Anonymous visitors are sent to
the log-in page; a user whose role lacks the permission gets 403 — for a
POST too, whatever the page showed, so a hidden control is never the only
guard. Domain errors (apps.core.exceptions) raised by the services become
pages with their status: 404, 403, 409, 400.
"""

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views import View

from apps.accounts.roles import has_permission, permissions_of, role_of
from apps.core.exceptions import HeimdallError, NotFound
from apps.core.exceptions import PermissionDenied as HeimdallPermissionDenied

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def capabilities(user) -> dict[str, bool]:
    """{"stations_write": True, ...}: which write controls the templates show."""
    granted = set(permissions_of(user))
    names = ["stations", "signals", "anomalies", "statistics", "constellations", "models",
             "training", "users"]  # fmt: skip
    can = {}
    for name in names:
        can[f"{name}_read"] = f"{name}:read" in granted
        can[f"{name}_write"] = f"{name}:write" in granted
    return can


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


class ConsoleView(View):
    """A console page: role-gated, with `can` and `role` in every template's context."""

    read_permission: str | None = None
    write_permission: str | None = None
    nav: str = ""  # which navigation entry is highlighted

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if role_of(user) is None:
            raise DjangoPermissionDenied("Your account has no role.")
        needed = self.read_permission if request.method in SAFE_METHODS else self.write_permission
        if request.method not in SAFE_METHODS and needed is None:
            return self.http_method_not_allowed(request, *args, **kwargs)
        if needed and not has_permission(user, needed):
            raise DjangoPermissionDenied("Your role does not allow this.")
        try:
            return super().dispatch(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from None
        except HeimdallPermissionDenied as exc:
            raise DjangoPermissionDenied(exc.message) from None
        except HeimdallError as exc:
            return self.error_page(request, exc)

    def context(self, request, **extra) -> dict:
        return {
            "can": capabilities(request.user),
            "role": role_of(request.user),
            "nav": self.nav,
            **extra,
        }

    def render(self, request, template: str, status: int = 200, **extra):
        response = render(request, template, self.context(request, **extra), status=status)
        # The same URL answers a whole page or, for htmx, a fragment: caches must tell apart.
        patch_vary_headers(response, ["HX-Request"])
        return response

    def error_page(self, request, exc: HeimdallError):
        template = "dashboard/partials/error.html" if is_htmx(request) else "dashboard/error.html"
        return self.render(
            request,
            template,
            status=exc.status_code,
            code=exc.code,
            message=exc.message,
            details=exc.details,
        )
