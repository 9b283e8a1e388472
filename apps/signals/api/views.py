from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.lookups import get_by_uuid_or_404
from apps.core.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    page_number_block,
    parse_page,
    parse_positive_int,
)
from apps.core.schema import form_parameters
from apps.signals.analysis import signal_analyze
from apps.signals.api.serializers import (
    AnalyzeRequestSerializer,
    DetectionListItemSerializer,
    DetectionSerializer,
    IngestRequestSerializer,
    IngestResponseSerializer,
)
from apps.signals.models import SignalDetection
from apps.signals.queries import (
    DetectionFilterForm,
    DetectionFilters,
    detection_keyset_page,
    detection_numbered_page,
)
from apps.signals.services import detection_ingest


class DetectionListView(APIView):
    """GET: detections, filtered and paginated. POST: ingest up to 10,000 at once."""

    resource = "signals"

    @extend_schema(
        tags=["signals"],
        parameters=[
            *form_parameters(DetectionFilterForm),
            OpenApiParameter("page", int, description="1-based page (page mode)"),
            OpenApiParameter("page_size", int, description="1-1000, default 50"),
            OpenApiParameter(
                "cursor", str, description="Keyset mode: empty for the first page, then next_cursor"
            ),
        ],
        responses={200: DetectionListItemSerializer(many=True)},
    )
    def get(self, request):
        params = request.query_params
        filters = DetectionFilters.from_params(params)
        page_size = parse_positive_int(params, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        if "cursor" in params:
            keyset = detection_keyset_page(filters, params["cursor"], page_size)
            rows = keyset.rows
            pagination = {
                "page_size": page_size,
                "next_cursor": keyset.next_cursor,
                "previous_cursor": keyset.previous_cursor,
                "has_next": keyset.next_cursor is not None,
                "has_previous": keyset.previous_cursor is not None,
            }
        else:
            page = parse_page(params)
            total, rows = detection_numbered_page(filters, (page - 1) * page_size, page_size)
            pagination = page_number_block(page, page_size, total)
        if not rows:
            filters.check_station_exists()
        # Plain rows: DRF's JSON encoder writes UUIDs and UTC times ("...Z") itself.
        return Response(
            {"data": rows, "pagination": pagination, "filters_applied": filters.applied()}
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
