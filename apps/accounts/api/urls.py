from apps.accounts.api import views
from apps.core.urls import api_path

urlpatterns = [
    api_path("auth/login", views.LoginView.as_view(), name="auth-login"),
    api_path("auth/refresh", views.RefreshView.as_view(), name="auth-refresh"),
    api_path("auth/me", views.MeView.as_view(), name="auth-me"),
    api_path("auth/api-keys", views.ApiKeyListView.as_view(), name="auth-api-keys"),
    api_path("auth/api-keys/<uuid:key_id>", views.ApiKeyDetailView.as_view(), name="auth-api-key"),
    api_path("users", views.UserDirectoryView.as_view(), name="user-directory"),
]
