"""`/stations`, `/stations/{id}`: map, seed statistics, 24 h chart; admins edit.

Edits go through the API's serializer (same checks, same messages) and the
stations services (same writes and status events) — apps.stations.api and
apps.stations.services.
"""

import json
from datetime import timedelta

from django.shortcuts import get_object_or_404, redirect

from apps.core.exceptions import Conflict
from apps.core.numbers import BadValue, fast_checked_loads
from apps.core.timeutil import utc_now
from apps.dashboard.forms import data_from_post, serializer_fields, validate
from apps.dashboard.views.base import ConsoleView
from apps.signals.selectors import detection_filters, detection_keyset
from apps.signals.statistics import detection_counts_over_time
from apps.stations import selectors, services
from apps.stations.api.serializers import StationDetailSerializer
from apps.stations.filters import StationFilterSet
from apps.stations.models import Station

STATISTICS_MAX_AGE_S = 15  # the list's 24-hour counts: up to 15 s old (station_statistics_many)
FORM_FIELDS = ["id", "name", "url", "location", "latitude", "longitude", "frequency_min",
               "frequency_max", "status", "api_config"]  # fmt: skip


def map_points(stations) -> list[dict]:
    return [
        {"id": s.id, "name": s.name, "lat": s.latitude, "lon": s.longitude, "status": s.status,
         "url": f"/stations/{s.id}"}
        for s in stations
    ]  # fmt: skip


class StationListView(ConsoleView):
    read_permission = "stations:read"
    nav = "stations"

    def get(self, request):
        filterset = StationFilterSet(request.GET, queryset=selectors.station_list())
        stations = list(filterset.validated_queryset())
        status = filterset.form.cleaned_data.get("status") or ""
        statistics = selectors.station_statistics_many(
            stations=stations, now=utc_now(), max_age_s=STATISTICS_MAX_AGE_S
        )
        rows = [{"station": s, "statistics": statistics[s.id]} for s in stations]
        return self.render(
            request,
            "dashboard/stations.html",
            rows=rows,
            counts=selectors.station_counts(selectors.station_list()),
            points=map_points(stations),
            status_filter=status,
            statuses=Station.Status.values,
        )


class StationDetailView(ConsoleView):
    read_permission = "stations:read"
    nav = "stations"

    def get(self, request, station_id):
        station = get_object_or_404(Station, pk=station_id)
        now = utc_now()
        return self.render(
            request,
            "dashboard/station_detail.html",
            station=station,
            statistics=selectors.station_statistics(station=station, now=now),
            live_status=selectors.station_status(station=station, now=now),
            hourly=detection_counts_over_time(
                since=now - timedelta(hours=24),
                until=now,
                bucket_seconds=3600,
                station_id=station.id,
            ),
            recent=detection_keyset(
                filters=detection_filters({"websdr_station": station.id}), cursor="", limit=15
            ).rows,
            api_config_json=json.dumps(station.api_config, indent=2, sort_keys=True),
            points=map_points([station]),
        )


def _post_data(request) -> tuple[dict, dict]:
    """The form as the API's input; api_config arrives as JSON text."""
    data = data_from_post(StationDetailSerializer, request.POST, only=FORM_FIELDS)
    errors: dict = {}
    raw = request.POST.get("api_config", "").strip()
    if raw:
        try:  # the API's reader: NaN, NUL and the like are refused as the API refuses them
            data["api_config"] = fast_checked_loads(raw.encode())
        except BadValue as bad:
            errors["api_config"] = [f"{bad.path}: {bad.constraint}"]
        except (ValueError, RecursionError):
            errors["api_config"] = ["must be valid JSON (an object)"]
    else:
        data.pop("api_config", None)
    return data, errors


class StationFormMixin:
    template = "dashboard/station_form.html"

    def form(self, request, *, station=None, values=None, errors=None, status=200):
        values = dict(values or {})
        if "api_config" in values and not isinstance(values["api_config"], str):
            values["api_config"] = json.dumps(values["api_config"], indent=2, sort_keys=True)
        fields = serializer_fields(
            StationDetailSerializer, values, errors,
            only=[f for f in FORM_FIELDS if station is None or f != "id"],
        )  # fmt: skip
        return self.render(
            request, self.template, status=status, station=station, fields=fields,
            form_errors=(errors or {}).get("body", []),
        )  # fmt: skip


class StationCreateView(StationFormMixin, ConsoleView):
    read_permission = write_permission = "stations:write"
    nav = "stations"

    def get(self, request):
        return self.form(
            request,
            values={"api_config": {"api_type": "simulated", "poll_interval": 1.0, "timeout": 30}},
        )

    def post(self, request):
        data, errors = _post_data(request)
        validated = None
        if not errors:
            validated, errors = validate(StationDetailSerializer, data)
        if errors:
            return self.form(request, values=request.POST.dict(), errors=errors, status=400)
        try:
            station = services.station_create(**validated)
        except Conflict as exc:
            errors = {"id": [exc.message]}
            return self.form(request, values=request.POST.dict(), errors=errors, status=409)
        return redirect("dashboard:station-detail", station_id=station.id)


class StationEditView(StationFormMixin, ConsoleView):
    read_permission = write_permission = "stations:write"
    nav = "stations"

    def get(self, request, station_id):
        station = get_object_or_404(Station, pk=station_id)
        values = {name: getattr(station, name) for name in FORM_FIELDS}
        return self.form(request, station=station, values=values)

    def post(self, request, station_id):
        station = get_object_or_404(Station, pk=station_id)
        data, errors = _post_data(request)
        validated = None
        if not errors:
            validated, errors = validate(StationDetailSerializer, data, instance=station)
        if errors:
            return self.form(
                request, station=station, values=request.POST.dict(), errors=errors, status=400
            )
        fields = {k: v for k, v in validated.items() if k != "id"}
        services.station_update(station=station, **fields)
        return redirect("dashboard:station-detail", station_id=station.id)
