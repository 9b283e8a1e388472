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

urlpatterns += [
    api_path(
        "constellations/<str:constellation_id>/localize",
        views.LocalizeView.as_view(),
        name="constellation-localize",
    ),
    api_path("localizations", views.LocalizationListView.as_view(), name="localization-list"),
    api_path(
        "localizations/<str:localization_id>",
        views.LocalizationDetailView.as_view(),
        name="localization-detail",
    ),
    api_path(
        "reference-transmitters/calibrate",
        views.CalibrateView.as_view(),
        name="reference-transmitters-calibrate",
    ),
    api_path(
        "reference-transmitters",
        views.ReferenceTransmitterListView.as_view(),
        name="reference-transmitter-list",
    ),
    api_path(
        "reference-transmitters/<str:reference_id>",
        views.ReferenceTransmitterDetailView.as_view(),
        name="reference-transmitter-detail",
    ),
]
