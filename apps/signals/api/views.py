from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.lookups import get_by_uuid_or_404
from apps.core.pagination import PageNumberPagination, TimeCursorPagination
from apps.core.schema import filterset_parameters
from apps.signals.analysis import signal_analyze
from apps.signals.api.serializers import (
    AnalyzeRequestSerializer,
    DetectionListItemSerializer,
    DetectionSerializer,
    IngestRequestSerializer,
    IngestResponseSerializer,
)
from apps.signals.filters import DetectionFilterSet
from apps.signals.models import SignalDetection
from apps.signals.services import detection_ingest

LIST_FIELDS = DetectionListItemSerializer.Meta.fields


class DetectionCursorPagination(TimeCursorPagination):
    ordering = ("-detection_timestamp", "-id")


class DetectionListView(APIView):
    """GET: detections, filtered and paginated. POST: ingest up to 10,000 at once."""

    resource = "signals"

    @extend_schema(
        tags=["signals"],
        parameters=[
            *filterset_parameters(DetectionFilterSet),
            OpenApiParameter("page", int, description="1-based page (page mode)"),
            OpenApiParameter("page_size", int, description="1-1000, default 50"),
            OpenApiParameter(
                "cursor", str, description="Keyset mode: empty for the first page, then next_cursor"
            ),
        ],
        responses={200: DetectionListItemSerializer(many=True)},
    )
    def get(self, request):
        filterset = DetectionFilterSet(
            request.query_params, queryset=SignalDetection.objects.order_by(
                "-detection_timestamp", "-id"
            )
        )  # fmt: skip
        # Plain rows, not model instances and serializers: this is the hot read
        # path (docs/performance.md); DRF's JSON encoder writes UUIDs and UTC
        # times ("...Z") itself. DetectionListItemSerializer documents the shape.
        queryset = filterset.validated_queryset().values(*LIST_FIELDS)
        paginator = (
            DetectionCursorPagination()
            if "cursor" in request.query_params
            else PageNumberPagination()
        )
        page = paginator.paginate_queryset(queryset, request, view=self)
        if not page:
            filterset.check_station_exists()
        return Response(
            {
                "data": page,
                "pagination": paginator.pagination_block(),
                "filters_applied": filterset.filters_applied(),
            }
        )

    @extend_schema(
        tags=["signals"],
        request=IngestRequestSerializer,
        responses={201: IngestResponseSerializer},
    )
    def post(self, request):
        data = request.data
        detections = data.get("detections") if isinstance(data, dict) else None
        result = detection_ingest(detections=detections)
        return Response(
            {"ingested": result.ingested, "duplicates": result.duplicates},
            status=status.HTTP_201_CREATED,
        )


class DetectionDetailView(APIView):
    resource = "signals"

    @extend_schema(tags=["signals"], responses={200: DetectionSerializer})
    def get(self, request, detection_id):
        detection = get_by_uuid_or_404(SignalDetection.objects.all(), detection_id)
        return Response(DetectionSerializer(detection).data)


class AnalyzeView(APIView):
    """Analyze a chunk of samples (any role: nothing is stored)."""

    resource = "signals"
    write_permission = "signals:read"

    @extend_schema(tags=["signals"], request=AnalyzeRequestSerializer, responses={200: dict})
    def post(self, request):
        return Response(signal_analyze(payload=request.data))
