from apps.core.urls import api_path
from apps.signals.api import statistics_views as views

urlpatterns = [
    api_path(
        "statistics/summary", views.StatisticsSummaryView.as_view(), name="statistics-summary"
    ),
    api_path(
        "statistics/frequency-usage",
        views.FrequencyUsageView.as_view(),
        name="statistics-frequency-usage",
    ),
]
