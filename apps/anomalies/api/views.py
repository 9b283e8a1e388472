from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.anomalies.api.serializers import (
    AcknowledgeRequestSerializer,
    AcknowledgeResponseSerializer,
    AnomalyEventSerializer,
    AnomalyListItemSerializer,
    AnomalySummarySerializer,
)
from apps.anomalies.filters import AnomalyFilterSet
from apps.anomalies.models import AnomalyEvent
from apps.anomalies.selectors import anomaly_list, anomaly_summary
from apps.anomalies.services import anomaly_acknowledge
from apps.core.lookups import get_by_uuid_or_404, parse_uuid_or_404
from apps.core.pagination import PageNumberPaginator
from apps.core.schema import filterset_parameters

PAGINATOR = PageNumberPaginator()


class AnomalyListView(APIView):
    """Anomaly events, newest first: AnomalyFilterSet → selectors.anomaly_list → page."""

    resource = "anomalies"

    @extend_schema(
        tags=["anomalies"],
        parameters=[*filterset_parameters(AnomalyFilterSet), *PAGINATOR.parameters()],
        responses={
            200: PAGINATOR.response_serializer(
                "AnomalyList", AnomalyListItemSerializer, summary=AnomalySummarySerializer()
            )
        },
    )
    def get(self, request):
        params = request.query_params
        queryset = AnomalyFilterSet(params, queryset=anomaly_list()).validated_queryset()
        rows, block = PAGINATOR.paginate(queryset, params)
        return Response(
            PAGINATOR.body(
                AnomalyListItemSerializer(rows, many=True).data,
                block,
                summary=anomaly_summary(queryset),
            )
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
