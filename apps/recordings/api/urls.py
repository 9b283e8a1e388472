from apps.core.urls import api_path
from apps.recordings.api import views

urlpatterns = [
    api_path("recordings", views.RecordingListView.as_view(), name="recording-list"),
    api_path(
        "recordings/<uuid:recording_id>",
        views.RecordingDetailView.as_view(),
        name="recording-detail",
    ),
    api_path(
        "recordings/<uuid:recording_id>/download",
        views.RecordingDownloadView.as_view(),
        name="recording-download",
    ),
    api_path(
        "recordings/<uuid:recording_id>/analyze",
        views.RecordingAnalyzeView.as_view(),
        name="recording-analyze",
    ),
    api_path(
        "recordings/<uuid:recording_id>/annotations",
        views.ClipListView.as_view(),
        name="recording-annotations",
    ),
    api_path(
        "recordings/<uuid:recording_id>/annotations/<uuid:clip_id>",
        views.ClipDetailView.as_view(),
        name="recording-annotation-detail",
    ),
]
