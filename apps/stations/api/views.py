from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.schema import filterset_parameters
from apps.core.timeutil import utc_now
from apps.stations import selectors, services
from apps.stations.api.serializers import (
    StationDetailSerializer,
    StationListResponseSerializer,
    StationListSerializer,
    StationStatusSerializer,
)
from apps.stations.filters import StationFilterSet
from apps.stations.models import Station


def _detail_response(station: Station, code: int = 200) -> Response:
    statistics = selectors.station_statistics(station=station, now=utc_now())
    serializer = StationDetailSerializer(station, context={"statistics": statistics})
    return Response(serializer.data, status=code)


class StationListView(APIView):
    """GET: stations with counts (every role). POST: register a station (admins)."""

    resource = "stations"

    @extend_schema(
        tags=["stations"],
        parameters=filterset_parameters(StationFilterSet),
        responses={200: StationListResponseSerializer},
    )
    def get(self, request):
        """Seed 004's shape: every matching station (no pages) and the counts."""
        stations = StationFilterSet(
            request.query_params, queryset=selectors.station_list()
        ).validated_queryset()
        body = {"data": StationListSerializer(stations, many=True).data}
        body.update(selectors.station_counts(stations))
        return Response(body)

    @extend_schema(
        tags=["stations"],
        request=StationDetailSerializer,
        responses={201: StationDetailSerializer},
    )
    def post(self, request):
        serializer = StationDetailSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        station = services.station_create(**serializer.validated_data)
        return _detail_response(station, status.HTTP_201_CREATED)


class StationDetailView(APIView):
    """GET: a station with statistics. PUT/PATCH: update. DELETE: remove (admins)."""

    resource = "stations"

    def _station(self, station_id: str) -> Station:
        return get_object_or_404(Station, pk=station_id)

    @extend_schema(tags=["stations"], responses={200: StationDetailSerializer})
    def get(self, request, station_id):
        return _detail_response(self._station(station_id))

    @extend_schema(
        tags=["stations"], request=StationDetailSerializer, responses={200: StationDetailSerializer}
    )
    def put(self, request, station_id):
        return self._update(request, station_id, partial=False)

    @extend_schema(
        tags=["stations"], request=StationDetailSerializer, responses={200: StationDetailSerializer}
    )
    def patch(self, request, station_id):
        return self._update(request, station_id, partial=True)

    def _update(self, request, station_id, *, partial):
        station = self._station(station_id)
        serializer = StationDetailSerializer(station, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        fields = {k: v for k, v in serializer.validated_data.items() if k != "id"}
        station = services.station_update(station=station, **fields)
        return _detail_response(station)

    @extend_schema(tags=["stations"], responses={204: None})
    def delete(self, request, station_id):
        services.station_delete(station=self._station(station_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class StationStatusView(APIView):
    resource = "stations"

    @extend_schema(tags=["stations"], responses={200: StationStatusSerializer})
    def get(self, request, station_id):
        station = get_object_or_404(Station, pk=station_id)
        payload = selectors.station_status(station=station, now=utc_now())
        return Response(StationStatusSerializer(payload).data)
