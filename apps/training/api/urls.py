from apps.core.urls import api_path
from apps.training.api import views

urlpatterns = [
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
