from apps.core.urls import api_path
from apps.training.api import jobs, runs, views

urlpatterns = [
    api_path("training/configs", runs.PresetListView.as_view(), name="training-configs"),
    api_path(
        "training/configs/<slug:name>", runs.PresetDetailView.as_view(), name="training-config"
    ),
    api_path("training/runs", runs.RunListView.as_view(), name="training-runs"),
    api_path("training/runs/<str:job_id>", runs.RunMetricsView.as_view(), name="training-run"),
    api_path(
        "training/runs/<str:job_id>/summary",
        runs.RunSummaryView.as_view(),
        name="training-run-summary",
    ),
    api_path(
        "training/metrics/latest", runs.LatestMetricsView.as_view(), name="training-metrics-latest"
    ),
    api_path("training/status", runs.StatusView.as_view(), name="training-status"),
    api_path("training/data-check", runs.DataCheckView.as_view(), name="training-data-check"),
    api_path("training/jobs", jobs.JobListView.as_view(), name="training-jobs"),
    api_path("training/jobs/<str:job_id>", jobs.JobDetailView.as_view(), name="training-job"),
    api_path(
        "training/jobs/<str:job_id>/cancel", jobs.JobCancelView.as_view(), name="training-cancel"
    ),
    api_path(
        "training/jobs/<str:job_id>/metrics",
        jobs.JobMetricsView.as_view(),
        name="training-metrics",
    ),
    api_path(
        "training/synthetic/generate", views.GenerateView.as_view(), name="synthetic-generate"
    ),
    api_path(
        "training/synthetic/datasets", views.DatasetListView.as_view(), name="synthetic-datasets"
    ),
    api_path(
        "training/synthetic/datasets/<str:dataset_id>",
        views.DatasetDetailView.as_view(),
        name="synthetic-dataset",
    ),
]
