from apps.accounts.api import views
from apps.core.urls import api_path

urlpatterns = [
    api_path("auth/login", views.LoginView.as_view(), name="auth-login"),
    api_path("auth/refresh", views.RefreshView.as_view(), name="auth-refresh"),
    api_path("auth/me", views.MeView.as_view(), name="auth-me"),
    api_path("users", views.UserDirectoryView.as_view(), name="user-directory"),
]
