from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ValidationFailed
from apps.core.lookups import get_by_uuid_or_404
from apps.core.pagination import PageNumberPaginator
from apps.core.schema import form_parameters
from apps.signals import selectors
from apps.signals.analysis import signal_analyze
from apps.signals.api.serializers import (
    AnalyzeRequestSerializer,
    AnalyzeResponseSerializer,
    DetectionListResponseSerializer,
    DetectionSerializer,
    IngestRequestSerializer,
    IngestResponseSerializer,
)
from apps.signals.models import SignalDetection
from apps.signals.queries import CURSOR_MAX_LENGTH, DetectionFilterForm
from apps.signals.services import detection_ingest

PAGINATOR = PageNumberPaginator()


class DetectionListView(APIView):
    """GET: detections, filtered and paginated. POST: ingest up to 10,000 at once.

    Read path: DetectionFilterForm (strict) → `selectors.detection_page` /
    `detection_keyset` (precompiled SQL) → seed 004's page block, or the keyset
    block when `cursor` is given.
    """

    resource = "signals"

    @extend_schema(
        tags=["signals"],
        parameters=[
            *form_parameters(DetectionFilterForm),
            *PAGINATOR.parameters(),
            OpenApiParameter(
                "cursor",
                {"type": "string", "maxLength": CURSOR_MAX_LENGTH},
                description="Keyset mode: empty for the first page, then next_cursor "
                "or previous_cursor (`page` is then ignored)",
            ),
        ],
        responses={200: DetectionListResponseSerializer},
    )
    def get(self, request):
        params = request.query_params
        filters = selectors.detection_filters(params)
        window = PAGINATOR.window(params)
        if "cursor" in params:
            keyset = selectors.detection_keyset(
                filters=filters, cursor=params["cursor"], limit=window.limit
            )
            rows = keyset.rows
            pagination = {
                "page_size": window.limit,
                "next_cursor": keyset.next_cursor,
                "previous_cursor": keyset.previous_cursor,
                "has_next": keyset.next_cursor is not None,
                "has_previous": keyset.previous_cursor is not None,
            }
        else:
            total, rows = selectors.detection_page(
                filters=filters, offset=window.offset, limit=window.limit
            )
            pagination = PAGINATOR.block(window, total)
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
        if isinstance(data, dict) and set(data) - {"detections"}:  # named, never ignored
            raise ValidationFailed.for_field(min(set(data) - {"detections"}), "unknown field")
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

    @extend_schema(
        tags=["signals"],
        request=AnalyzeRequestSerializer,
        responses={200: AnalyzeResponseSerializer},
    )
    def post(self, request):
        return Response(signal_analyze(payload=request.data))
