from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.health import UNHEALTHY, system_health
from apps.core.timeutil import isoformat_z, utc_now
from heimdall.version import __version__

HEALTH = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(["healthy", "degraded", "unhealthy"]),
        "timestamp": serializers.DateTimeField(),
        "version": serializers.CharField(),
        "services": serializers.DictField(child=serializers.CharField()),
    },
)


class HealthView(APIView):
    """Service health: 200 when healthy or degraded, 503 (the same body) when unhealthy."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["health"],
        responses={
            (200, "application/json"): HEALTH,
            (503, "application/json"): OpenApiResponse(HEALTH, description="Unhealthy"),
        },
    )
    def get(self, request):
        overall, services = system_health()
        body = {
            "status": overall,
            "timestamp": isoformat_z(utc_now()),
            "version": __version__,
            "services": services,
        }
        return Response(body, status=503 if overall == UNHEALTHY else 200)


class NotFoundView(APIView):
    """Catch-all for unknown /api/ paths, so they answer in the envelope and are counted."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    schema = None

    def _not_found(self, request, *args, **kwargs):
        from apps.core.exceptions import NotFound

        raise NotFound(f"No resource at {request.path}.")

    get = post = put = patch = delete = head = options = _not_found
