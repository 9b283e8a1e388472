from apps.core.urls import api_path
from apps.training.api import jobs, views

urlpatterns = [
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
