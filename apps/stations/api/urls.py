from apps.core.urls import api_path
from apps.stations.api import views

urlpatterns = [
    api_path("stations", views.StationListView.as_view(), name="station-list"),
    api_path("stations/<str:station_id>", views.StationDetailView.as_view(), name="station-detail"),
    api_path(
        "stations/<str:station_id>/status", views.StationStatusView.as_view(), name="station-status"
    ),
]
