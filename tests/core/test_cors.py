"""Browser pages on other origins (the JS SDK in a dashboard) call the API only when
their origin is listed (HEIMDALL_CORS_ALLOWED_ORIGINS -> CORS_ALLOWED_ORIGINS)."""

import pytest
from rest_framework.test import APIClient

from tests.helpers import client_for, make_user

pytestmark = pytest.mark.django_db
DASHBOARD = "https://dash.example.org"


@pytest.fixture
def listed(settings):
    settings.CORS_ALLOWED_ORIGINS = [DASHBOARD]


def preflight(client, path="/api/v1/stations", origin=DASHBOARD):
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,x-api-key",
    )


def test_a_listed_origin_s_preflight_and_request_are_answered(listed, client):
    response = preflight(client)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == DASHBOARD
    assert {"authorization", "x-api-key"} <= set(
        response["Access-Control-Allow-Headers"].split(", ")
    )
    assert "Access-Control-Allow-Credentials" not in response  # headers, never cookies
    viewer = client_for(make_user("vera", "viewer"))
    answer = viewer.get("/api/v1/stations", HTTP_ORIGIN=DASHBOARD)
    assert answer.status_code == 200
    assert answer["Access-Control-Allow-Origin"] == DASHBOARD
    exposed = set(answer["Access-Control-Expose-Headers"].split(", "))
    assert {"retry-after", "x-request-id", "x-ratelimit-remaining"} <= exposed


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://dash.example.org", "https://dash.example.org:8443"]
)
def test_an_origin_not_listed_gets_no_cors_headers(listed, client, origin):
    assert "Access-Control-Allow-Origin" not in preflight(client, origin=origin)
    viewer = client_for(make_user("vera", "viewer"))
    assert "Access-Control-Allow-Origin" not in viewer.get("/api/v1/stations", HTTP_ORIGIN=origin)


def test_by_default_no_origin_is_listed(client):
    assert "Access-Control-Allow-Origin" not in preflight(client)


def test_only_the_api_answers_other_origins(listed, client):
    """The console and admin are same-origin pages with cookies: no CORS for them."""
    for path in ("/admin/login/", "/console/", "/health"):
        assert "Access-Control-Allow-Origin" not in client.get(path, HTTP_ORIGIN=DASHBOARD)


@pytest.mark.usefixtures("rate_window_held")
def test_refusals_before_the_view_carry_cors_headers_too(listed, settings):
    """A browser reads a 401's envelope or a 429's Retry-After only with CORS headers."""
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "1/hour"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    client = APIClient(REMOTE_ADDR="198.51.100.40")
    first = client.get("/api/v1/stations", HTTP_ORIGIN=DASHBOARD)
    assert (first.status_code, first["Access-Control-Allow-Origin"]) == (401, DASHBOARD)
    limited = client.get("/api/v1/stations", HTTP_ORIGIN=DASHBOARD)
    assert (limited.status_code, limited["Access-Control-Allow-Origin"]) == (429, DASHBOARD)
    assert "retry-after" in limited["Access-Control-Expose-Headers"].split(", ")
    assert int(limited["Retry-After"]) > 0
