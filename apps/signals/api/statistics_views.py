from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.bands import MAX_FREQUENCY_HZ
from apps.core.timeutil import utc_now
from apps.signals.statistics import (
    GRANULARITIES,
    MAX_FREQUENCY_BINS,
    MAX_TIME_BUCKETS,
    TIME_PERIODS,
    FrequencyUsageQuery,
    frequency_usage,
    statistics_summary,
)


class SummaryParams(serializers.Serializer):
    time_period = serializers.ChoiceField(list(TIME_PERIODS), default="24h")


class FrequencyUsageParams(serializers.Serializer):
    frequency_min = serializers.IntegerField(min_value=0, max_value=MAX_FREQUENCY_HZ)
    frequency_max = serializers.IntegerField(min_value=0, max_value=MAX_FREQUENCY_HZ)
    time_period = serializers.ChoiceField(list(TIME_PERIODS), default="24h")
    granularity = serializers.ChoiceField(list(GRANULARITIES), default="1h")
    bin_width_hz = serializers.IntegerField(min_value=1, max_value=MAX_FREQUENCY_HZ, required=False)

    def validate(self, attrs):
        low, high = attrs["frequency_min"], attrs["frequency_max"]
        if high < low:
            raise serializers.ValidationError({"frequency_max": "must not be below frequency_min"})
        span = high - low
        # Default: ten bins over the range.
        width = attrs.get("bin_width_hz") or max(1, -(-span // 10))
        attrs["bin_width_hz"] = width
        if -(-span // width) > MAX_FREQUENCY_BINS:
            raise serializers.ValidationError(
                {"bin_width_hz": f"gives more than {MAX_FREQUENCY_BINS} bins over the range"}
            )
        buckets = (
            TIME_PERIODS[attrs["time_period"]].total_seconds() / GRANULARITIES[attrs["granularity"]]
        )
        if buckets > MAX_TIME_BUCKETS:
            period = attrs["time_period"]
            raise serializers.ValidationError(
                {"granularity": f"too fine for {period}: over {MAX_TIME_BUCKETS} buckets"}
            )
        return attrs


class StatisticsSummaryView(APIView):
    resource = "statistics"

    @extend_schema(
        tags=["statistics"],
        parameters=[OpenApiParameter("time_period", str, enum=list(TIME_PERIODS))],
        responses={200: dict},
    )
    def get(self, request):
        params = SummaryParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response(
            statistics_summary(time_period=params.validated_data["time_period"], now=utc_now())
        )


class FrequencyUsageView(APIView):
    resource = "statistics"

    @extend_schema(tags=["statistics"], parameters=[FrequencyUsageParams], responses={200: dict})
    def get(self, request):
        params = FrequencyUsageParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = FrequencyUsageQuery(**params.validated_data)
        return Response(frequency_usage(query=query, now=utc_now()))
