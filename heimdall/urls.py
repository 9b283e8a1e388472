from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from apps.core.urls import api_path
from apps.core.views import HealthView, NotFoundView
from apps.dashboard.views.docs import ApiDocsView

urlpatterns = [
    api_path("health", HealthView.as_view(), name="health"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("apps.accounts.api.urls")),
    path("api/v1/", include("apps.stations.api.urls")),
    path("api/v1/", include("apps.signals.api.urls")),
    path("api/v1/", include("apps.anomalies.api.urls")),
    path("api/v1/", include("apps.signals.api.statistics_urls")),
    path("api/v1/", include("apps.constellations.api.urls")),
    path("api/v1/", include("apps.recordings.api.urls")),
    # POST /models/train and /models/recommend before the registry's models/<id>.
    path("api/v1/", include("apps.training.api.model_urls")),
    path("api/v1/", include("apps.ml.api.urls")),
    path("api/v1/", include("apps.training.api.urls")),
    re_path(r"^api/v1/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI that tells anonymous visitors how to log in (apps.dashboard.views.docs).
    re_path(r"^api/v1/docs/?$", ApiDocsView.as_view(url_name="schema"), name="docs"),
    # Anything else under /api/ answers 404 in the envelope.
    re_path(r"^api/", NotFoundView.as_view()),
    # The operator console (server-rendered pages, session login): everything else.
    path("", include("apps.dashboard.urls")),
]

handler400 = "apps.core.exceptions.handler400"
handler403 = "apps.core.exceptions.handler403"
handler404 = "apps.core.exceptions.handler404"
handler500 = "apps.core.exceptions.handler500"
