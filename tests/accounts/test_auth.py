import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from apps.accounts.roles import ROLE_PERMISSIONS, Role
from tests.helpers import PASSWORD, assert_envelope, client_for

pytestmark = pytest.mark.django_db


def login(client, username, password=PASSWORD):
    return client.post(
        "/api/v1/auth/login", {"username": username, "password": password}, format="json"
    )


@pytest.mark.parametrize("role", ["admin", "operator", "viewer", "collector"])
def test_login_returns_seed_shape_with_role_permissions(role, anon_client):
    from tests.helpers import make_user

    user = make_user(f"user-{role}", role)
    response = login(anon_client, user.username)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "permissions",
        "role",
        "user_id",
    }
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["user_id"] == str(user.pk)
    assert body["role"] == role
    assert body["permissions"] == ROLE_PERMISSIONS[Role(role)]


def test_login_with_email_as_in_seed(anon_client, operator_user):
    response = login(anon_client, "otto@example.com")
    assert response.status_code == 200
    assert response.json()["user_id"] == str(operator_user.pk)


def test_superuser_acts_as_admin(anon_client, db):
    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    body = login(anon_client, "root").json()
    assert body["role"] == "admin"
    assert "stations:write" in body["permissions"]


def test_wrong_password_is_401_in_envelope(anon_client, viewer_user):
    error = assert_envelope(login(anon_client, "vera", "nope"), 401, "INVALID_CREDENTIALS")
    assert error["message"] == "Invalid username or password."


def test_unknown_user_and_user_without_role_are_refused(anon_client, db):
    assert_envelope(login(anon_client, "ghost"), 401, "INVALID_CREDENTIALS")
    get_user_model().objects.create_user("norole", password=PASSWORD)
    assert_envelope(login(anon_client, "norole"), 401, "INVALID_CREDENTIALS")


def test_inactive_user_cannot_log_in(anon_client, viewer_user):
    viewer_user.is_active = False
    viewer_user.save()
    assert_envelope(login(anon_client, "vera"), 401, "INVALID_CREDENTIALS")


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"password": "x"}, "username"), ({"username": "vera"}, "password"), ([], "body")],
)
def test_login_validation_names_the_field(anon_client, payload, field, db):
    response = anon_client.post("/api/v1/auth/login", payload, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR", field)


def test_login_malformed_json_is_400(anon_client, db):
    response = anon_client.post(
        "/api/v1/auth/login", data="{not json", content_type="application/json"
    )
    error = assert_envelope(response, 400, "VALIDATION_ERROR", "body")
    assert error["details"]["constraint"] == "must be well-formed JSON"


def test_login_wrong_content_type_is_415(anon_client, db):
    response = anon_client.post("/api/v1/auth/login", data="username=a", content_type="text/plain")
    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_refresh_rotates_and_blacklists_the_used_token(anon_client, viewer_user):
    first = login(anon_client, "vera").json()
    response = anon_client.post(
        "/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]}, format="json"
    )
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["user_id"] == str(viewer_user.pk)
    assert second["token_type"] == "bearer"
    # The new access token works.
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {second['access_token']}")
    assert client.get("/api/v1/stations").status_code == 200
    # The used refresh token is dead.
    again = anon_client.post(
        "/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]}, format="json"
    )
    assert_envelope(again, 401, "INVALID_TOKEN")


def test_refresh_with_garbage_or_missing_token(anon_client, db):
    assert_envelope(
        anon_client.post("/api/v1/auth/refresh", {"refresh_token": "abc"}, format="json"),
        401,
        "INVALID_TOKEN",
    )
    assert_envelope(
        anon_client.post("/api/v1/auth/refresh", {}, format="json"),
        400,
        "VALIDATION_ERROR",
        "refresh_token",
    )


def test_refresh_for_deleted_user_is_401_not_500(anon_client, viewer_user):
    tokens = login(anon_client, "vera").json()
    viewer_user.delete()
    response = anon_client.post(
        "/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json"
    )
    assert_envelope(response, 401, "INVALID_TOKEN")


def test_access_token_is_not_a_refresh_token(anon_client, viewer_user):
    tokens = login(anon_client, "vera").json()
    response = anon_client.post(
        "/api/v1/auth/refresh", {"refresh_token": tokens["access_token"]}, format="json"
    )
    assert_envelope(response, 401, "INVALID_TOKEN")


def test_endpoints_require_a_token(anon_client, db):
    response = anon_client.get("/api/v1/stations")
    error = assert_envelope(response, 401, "AUTHENTICATION_REQUIRED")
    assert "Bearer" in response["WWW-Authenticate"]
    assert error["message"]


def test_bad_token_is_invalid_token(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
    assert_envelope(client.get("/api/v1/stations"), 401, "INVALID_TOKEN")


def test_session_auth_works_for_browsable_api(viewer_user):
    client = APIClient()
    assert client.login(username="vera", password=PASSWORD)
    response = client.get("/api/v1/stations", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"Stations" in response.content or b"stations" in response.content


def test_me_reports_role(viewer_user):
    body = client_for(viewer_user).get("/api/v1/auth/me").json()
    assert body["username"] == "vera"
    assert body["role"] == "viewer"
    assert body["permissions"] == ROLE_PERMISSIONS[Role.VIEWER]


@pytest.mark.usefixtures("rate_window_held")
def test_login_throttled_per_username(anon_client, viewer_user, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login_username": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    for _ in range(3):
        assert login(anon_client, "vera", "wrong").status_code == 401
    response = login(anon_client, "vera", "wrong")
    error = assert_envelope(response, 429, "RATE_LIMITED")
    assert int(response["Retry-After"]) >= 1
    assert response["X-RateLimit-Limit"] == "3"
    assert response["X-RateLimit-Remaining"] == "0"
    assert error["details"]["retry_after_seconds"] == int(response["Retry-After"])
    # Even the right password is refused while the username is locked out...
    assert login(anon_client, "vera").status_code == 429
    # ...but another username from the same address is not.
    assert login(anon_client, "someone-else", "x").status_code == 401


@pytest.mark.usefixtures("rate_window_held")
def test_a_username_in_another_unicode_form_is_the_same_user(anon_client, settings):
    """Usernames are stored NFKC (user_create); the login reads them the same way, and
    counts them as one name against the per-username limit."""
    from tests.helpers import make_user

    make_user("jos\u00e9", "viewer")
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login_username": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    for typed in ("jose\u0301", " \uff4aos\u00e9 "):  # NFD; full-width j, spaces
        assert login(anon_client, typed).status_code == 200, typed
    assert login(anon_client, "JOS\u00c9", "wrong").status_code == 401
    assert_envelope(login(anon_client, "jos\u00e9"), 429, "RATE_LIMITED")  # the 4th of one name


@pytest.mark.usefixtures("rate_window_held")
def test_login_throttled_per_address(anon_client, db, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login_address": "4/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    for index in range(4):
        assert login(anon_client, f"user{index}", "x").status_code == 401
    assert_envelope(login(anon_client, "user-new", "x"), 429, "RATE_LIMITED")
    other_address = APIClient(REMOTE_ADDR="10.1.2.3")
    assert login(other_address, "user-new", "x").status_code == 401
