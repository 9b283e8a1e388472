from apps.anomalies.api import views
from apps.core.urls import api_path

urlpatterns = [
    api_path("anomalies", views.AnomalyListView.as_view(), name="anomaly-list"),
    api_path(
        "anomalies/<str:anomaly_id>", views.AnomalyDetailView.as_view(), name="anomaly-detail"
    ),
    api_path(
        "anomalies/<str:anomaly_id>/acknowledge",
        views.AnomalyAcknowledgeView.as_view(),
        name="anomaly-acknowledge",
    ),
]
