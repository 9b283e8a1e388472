from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.anomalies.api.serializers import (
    AcknowledgeRequestSerializer,
    AcknowledgeResponseSerializer,
    AnomalyEventSerializer,
    AnomalyListItemSerializer,
)
from apps.anomalies.filters import AnomalyFilterSet
from apps.anomalies.models import AnomalyEvent
from apps.anomalies.selectors import anomaly_summary
from apps.anomalies.services import anomaly_acknowledge
from apps.core.lookups import get_by_uuid_or_404, parse_uuid_or_404
from apps.core.pagination import PageNumberPagination
from apps.core.schema import filterset_parameters


class AnomalyListView(APIView):
    resource = "anomalies"

    @extend_schema(
        tags=["anomalies"],
        parameters=[
            *filterset_parameters(AnomalyFilterSet),
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int),
        ],
        responses={200: AnomalyListItemSerializer(many=True)},
    )
    def get(self, request):
        filterset = AnomalyFilterSet(
            request.query_params, queryset=AnomalyEvent.objects.order_by("-created_at", "-id")
        )
        queryset = filterset.validated_queryset()
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return Response(
            {
                "data": AnomalyListItemSerializer(page, many=True).data,
                "pagination": paginator.pagination_block(),
                "summary": anomaly_summary(queryset),
            }
        )


class AnomalyDetailView(APIView):
    resource = "anomalies"

    @extend_schema(tags=["anomalies"], responses={200: AnomalyEventSerializer})
    def get(self, request, anomaly_id):
        event = get_by_uuid_or_404(AnomalyEvent.objects.all(), anomaly_id)
        return Response(AnomalyEventSerializer(event).data)


class AnomalyAcknowledgeView(APIView):
    resource = "anomalies"

    @extend_schema(
        tags=["anomalies"],
        request=AcknowledgeRequestSerializer,
        responses={200: AcknowledgeResponseSerializer},
    )
    def post(self, request, anomaly_id):
        serializer = AcknowledgeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        event = anomaly_acknowledge(
            event_id=parse_uuid_or_404(anomaly_id),
            user=request.user,
            notes=serializer.validated_data["notes"],
        )
        return Response(AcknowledgeResponseSerializer(event).data)
