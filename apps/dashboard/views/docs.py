"""/api/v1/docs/: Swagger UI (drf-spectacular-sidecar, local assets) that says how to sign in.

Anonymous visitors get a page that tells them how to log in (the console's
/login, or a JWT / API key for scripts); a logged-in user gets Swagger UI,
whose "Try it out" calls go with their session cookie (and CSRF token), or
with a JWT or API key entered under "Authorize".
"""

from django.shortcuts import render
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.permissions import AllowAny


class ApiDocsView(SpectacularSwaggerView):
    permission_classes = [AllowAny]
    template_name = "dashboard/api_docs.html"

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return render(
                request._request,
                "dashboard/api_docs_login.html",
                {"next": request.get_full_path()},
                status=401,
            )
        return super().get(request, *args, **kwargs)
