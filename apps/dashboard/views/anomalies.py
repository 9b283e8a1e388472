"""`/anomalies`: the API's FilterSet and summary; detail with features; acknowledge."""

from django.shortcuts import redirect

from apps.anomalies.api.serializers import AcknowledgeRequestSerializer
from apps.anomalies.filters import AnomalyFilterSet
from apps.anomalies.models import AnomalyEvent
from apps.anomalies.selectors import anomaly_list, anomaly_summary
from apps.anomalies.services import anomaly_acknowledge
from apps.core.exceptions import Conflict
from apps.core.lookups import get_by_uuid_or_404, parse_uuid_or_404
from apps.dashboard.forms import validate
from apps.dashboard.views.base import ConsoleView, is_htmx
from apps.dashboard.views.pages import paginate
from apps.signals.models import SignalDetection
from apps.stations.selectors import station_list


class AnomalyListView(ConsoleView):
    read_permission = "anomalies:read"
    nav = "anomalies"

    def get(self, request):
        params = request.GET.copy()
        params.pop("page", None)
        params.pop("page_size", None)
        filterset = AnomalyFilterSet(request.GET, queryset=anomaly_list())
        status = 200
        if filterset.is_valid():
            queryset = filterset.qs
            rows, pagination = paginate(queryset.select_related("station"), request.GET)
            summary = anomaly_summary(queryset)
        else:  # shown beside the filter that is wrong, nothing listed
            status, rows, pagination, summary = 400, [], None, None
        context = {
            "filterset": filterset,
            "errors": filterset.form.errors,
            "rows": rows,
            "pagination": pagination,
            "summary": summary,
            "query": params.urlencode(),
            "stations": list(station_list().values_list("id", flat=True)),
            "severities": AnomalyEvent.Severity.values,
            "selected_severities": ",".join(request.GET.getlist("severity")).split(","),
        }
        template = (
            "dashboard/partials/anomaly_table.html"
            if is_htmx(request)
            else ("dashboard/anomalies.html")
        )
        return self.render(request, template, status=status, **context)


def _detection_for(event: AnomalyEvent):
    """The detection behind the event, found in its time partition."""
    return SignalDetection.objects.filter(
        pk=event.detection_id, detection_timestamp=event.detection_timestamp
    ).first()


class AnomalyDetailView(ConsoleView):
    read_permission = "anomalies:read"
    write_permission = "anomalies:write"
    nav = "anomalies"

    def _page(self, request, event, *, status=200, errors=None, notes=""):
        template = (
            "dashboard/partials/acknowledge.html" if is_htmx(request) else
            "dashboard/anomaly_detail.html"
        )  # fmt: skip
        return self.render(
            request, template, status=status, event=event, detection=_detection_for(event),
            errors=errors or {}, notes=notes,
        )  # fmt: skip

    def get(self, request, anomaly_id):
        event = get_by_uuid_or_404(
            AnomalyEvent.objects.select_related("station", "acknowledged_by"), anomaly_id
        )
        return self._page(request, event)

    def post(self, request, anomaly_id):
        """Acknowledge with notes (operators, admins): the API's check and service."""
        event_id = parse_uuid_or_404(anomaly_id)
        event = get_by_uuid_or_404(
            AnomalyEvent.objects.select_related("station", "acknowledged_by"), anomaly_id
        )
        validated, errors = validate(AcknowledgeRequestSerializer, {"notes": request.POST.get(
            "notes", "")})  # fmt: skip
        if errors:
            return self._page(request, event, status=400, errors=errors,
                              notes=request.POST.get("notes", ""))  # fmt: skip
        try:
            anomaly_acknowledge(event_id=event_id, user=request.user, notes=validated["notes"])
        except Conflict as exc:
            event.refresh_from_db()
            return self._page(request, event, status=409, errors={"body": [exc.message]})
        if is_htmx(request):
            event.refresh_from_db()
            return self._page(request, event)
        return redirect("dashboard:anomaly-detail", anomaly_id=event.pk)
