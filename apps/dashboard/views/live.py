"""`/live`: the waterfall fed by /ws/signals/live with the session cookie."""

from apps.dashboard.views.base import ConsoleView
from apps.signals.selectors import detection_filters, detection_keyset
from apps.stations.selectors import station_list

INITIAL_ROWS = 25


class LiveView(ConsoleView):
    read_permission = "signals:read"
    nav = "live"

    def get(self, request):
        # The newest rows through the detection list's own read path (keyset: no count).
        filters = detection_filters({})
        newest = detection_keyset(filters=filters, cursor="", limit=INITIAL_ROWS).rows
        stations = list(station_list().values("id", "name", "status"))
        return self.render(request, "dashboard/live.html", stations=stations, newest=newest)
