from apps.constellations.api import views
from apps.core.urls import api_path

urlpatterns = [
    api_path("constellations", views.ConstellationListView.as_view(), name="constellation-list"),
    api_path(
        "constellations/<str:constellation_id>",
        views.ConstellationDetailView.as_view(),
        name="constellation-detail",
    ),
    api_path(
        "constellations/<str:constellation_id>/members",
        views.MemberListView.as_view(),
        name="constellation-members",
    ),
    api_path(
        "constellations/<str:constellation_id>/members/<str:station_id>",
        views.MemberDetailView.as_view(),
        name="constellation-member",
    ),
    api_path(
        "constellations/<str:constellation_id>/shares",
        views.ShareListView.as_view(),
        name="constellation-shares",
    ),
    api_path(
        "constellations/<str:constellation_id>/shares/<str:user_id>",
        views.ShareDetailView.as_view(),
        name="constellation-share",
    ),
]
