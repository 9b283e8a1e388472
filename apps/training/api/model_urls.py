"""/api/v1/models/train and /models/recommend: included before apps.ml's models/<id>."""

from apps.core.urls import api_path
from apps.training.api import models

urlpatterns = [
    api_path("models/train", models.ModelTrainView.as_view(), name="model-train"),
    api_path("models/recommend", models.ModelRecommendView.as_view(), name="model-recommend"),
]
