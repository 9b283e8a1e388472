"""The console's pages. Every path answers with and without its trailing slash."""

from django.contrib.auth import views as auth_views

from apps.core.urls import api_path
from apps.dashboard.views import (
    anomalies,
    constellations,
    live,
    models,
    overview,
    stations,
    training,
)

app_name = "dashboard"


urlpatterns = [
    api_path(
        "login",
        auth_views.LoginView.as_view(
            template_name="dashboard/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    api_path("logout", auth_views.LogoutView.as_view(next_page="dashboard:login"), name="logout"),
    api_path("", overview.OverviewView.as_view(), name="overview"),
    api_path("parts/health", overview.HealthPartView.as_view(), name="health-part"),
    api_path("live", live.LiveView.as_view(), name="live"),
    api_path("stations", stations.StationListView.as_view(), name="stations"),
    api_path("stations/new", stations.StationCreateView.as_view(), name="station-create"),
    api_path("stations/<slug:station_id>", stations.StationDetailView.as_view(),
             name="station-detail"),
    api_path("stations/<slug:station_id>/edit", stations.StationEditView.as_view(),
             name="station-edit"),
    api_path("anomalies", anomalies.AnomalyListView.as_view(), name="anomalies"),
    api_path("anomalies/<str:anomaly_id>", anomalies.AnomalyDetailView.as_view(),
             name="anomaly-detail"),
    api_path("constellations", constellations.ConstellationListView.as_view(),
             name="constellations"),
    api_path("constellations/<str:constellation_id>",
             constellations.ConstellationDetailView.as_view(), name="constellation-detail"),
    api_path("training", training.JobListView.as_view(), name="training"),
    api_path("training/jobs/new", training.JobCreateView.as_view(), name="job-create"),
    api_path("training/jobs/<str:job_id>", training.JobDetailView.as_view(), name="job-detail"),
    api_path("training/datasets", training.DatasetListView.as_view(), name="datasets"),
    api_path("models", models.ModelListView.as_view(), name="models"),
    api_path("models/<str:model_id>", models.ModelDetailView.as_view(), name="model-detail"),
]  # fmt: skip
