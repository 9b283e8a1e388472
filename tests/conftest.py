"""Shared fixtures: users in each role, API clients authenticated with real JWTs."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.accounts.services import user_create
from apps.core.partitioning import forget_known_partitions

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()  # rate-limit windows must not leak between tests
    forget_known_partitions()
    yield
    cache.clear()


def make_user(username: str, role: str, **extra):
    return user_create(username=username, password=PASSWORD, role=role, validate=False, **extra)


@pytest.fixture
def admin_user(db):
    return make_user("ada", "admin", email="ada@example.com", display_name="Ada Admin")


@pytest.fixture
def operator_user(db):
    return make_user("otto", "operator", email="otto@example.com")


@pytest.fixture
def viewer_user(db):
    return make_user("vera", "viewer", email="vera@example.com")


@pytest.fixture
def collector_user(db):
    return make_user("collector-1", "collector")


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        response = client.post(
            "/api/v1/auth/login", {"username": user.username, "password": PASSWORD}, format="json"
        )
        assert response.status_code == 200, response.content
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}")
    return client


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def admin_client(admin_user):
    return client_for(admin_user)


@pytest.fixture
def operator_client(operator_user):
    return client_for(operator_user)


@pytest.fixture
def viewer_client(viewer_user):
    return client_for(viewer_user)


@pytest.fixture
def role_clients(admin_user, operator_user, viewer_user):
    """A client per role, plus anonymous."""
    return {
        "anonymous": APIClient(),
        "viewer": client_for(viewer_user),
        "operator": client_for(operator_user),
        "admin": client_for(admin_user),
    }


def assert_envelope(response, status: int, code: str, field: str | None = None):
    """The response is an error in the seed's envelope, naming `field` when given."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details", "request_id", "timestamp"}
    assert error["code"] == code
    assert error["request_id"] == response["X-Request-ID"]
    assert error["timestamp"].endswith("Z")
    if field is not None:
        assert (
            field in error["details"].get("fields", {}) or error["details"].get("field") == field
        ), error
    return error
