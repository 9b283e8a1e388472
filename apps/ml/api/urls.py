from apps.core.urls import api_path
from apps.ml.api import views

urlpatterns = [
    api_path("models", views.ModelListView.as_view(), name="model-list"),
    api_path("models/<str:model_id>", views.ModelDetailView.as_view(), name="model-detail"),
    api_path(
        "models/<str:model_id>/predict", views.ModelPredictView.as_view(), name="model-predict"
    ),
    api_path(
        "models/<str:model_id>/activate", views.ModelActivateView.as_view(), name="model-activate"
    ),
]
