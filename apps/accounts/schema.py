"""OpenAPI description of Heimdall's JWT authentication (loaded by AccountsConfig.ready)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class HeimdallJWTScheme(SimpleJWTScheme):
    target_class = "apps.accounts.authentication.HeimdallJWTAuthentication"
    name = "jwtAuth"
