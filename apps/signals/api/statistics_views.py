from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.filters import validated
from apps.core.schema import form_parameters
from apps.core.timeutil import utc_now
from apps.signals.api.serializers import FrequencyUsageSerializer, StatisticsSummarySerializer
from apps.signals.filters import FrequencyUsageForm, SummaryForm
from apps.signals.statistics import FrequencyUsageQuery, frequency_usage, statistics_summary


class StatisticsSummaryView(APIView):
    resource = "statistics"

    @extend_schema(
        tags=["statistics"],
        parameters=form_parameters(SummaryForm),
        responses={200: StatisticsSummarySerializer},
    )
    def get(self, request):
        params = validated(SummaryForm(request.query_params))
        return Response(statistics_summary(time_period=params["time_period"], now=utc_now()))


class FrequencyUsageView(APIView):
    resource = "statistics"

    @extend_schema(
        tags=["statistics"],
        parameters=form_parameters(FrequencyUsageForm),
        responses={200: FrequencyUsageSerializer},
    )
    def get(self, request):
        query = FrequencyUsageQuery(**validated(FrequencyUsageForm(request.query_params)))
        return Response(frequency_usage(query=query, now=utc_now()))
