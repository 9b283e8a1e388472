from apps.core.urls import api_path
from apps.ml.api import views

urlpatterns = [
    api_path("models", views.ModelListView.as_view(), name="model-list"),
    # Before models/<id>/...: "current" is not an id.
    api_path(
        "models/current/inspect", views.CurrentInspectView.as_view(), name="model-current-inspect"
    ),
    api_path("models/<str:model_id>", views.ModelDetailView.as_view(), name="model-detail"),
    api_path(
        "models/<str:model_id>/predict", views.ModelPredictView.as_view(), name="model-predict"
    ),
    api_path(
        "models/<str:model_id>/activate", views.ModelActivateView.as_view(), name="model-activate"
    ),
    api_path(
        "models/<str:model_id>/inspect", views.ModelInspectView.as_view(), name="model-inspect"
    ),
    api_path(
        "models/<str:model_id>/download", views.ModelDownloadView.as_view(), name="model-download"
    ),
    api_path(
        "models/<str:model_id>/training/complete",
        views.TrainingCompleteView.as_view(),
        name="model-training-complete",
    ),
    api_path(
        "models/<str:model_id>/training/fail",
        views.TrainingFailView.as_view(),
        name="model-training-fail",
    ),
]
