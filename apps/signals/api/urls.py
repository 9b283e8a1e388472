from apps.core.urls import api_path
from apps.signals.api import views

urlpatterns = [
    api_path("signals/analyze", views.AnalyzeView.as_view(), name="signals-analyze"),
    api_path("signals/detections", views.DetectionListView.as_view(), name="detection-list"),
    api_path(
        "signals/detections/<str:detection_id>",
        views.DetectionDetailView.as_view(),
        name="detection-detail",
    ),
]
