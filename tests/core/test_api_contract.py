"""ARCHITECTURE.md §3: envelope, request ids, rate limits, slashes, schema."""

import re
import time

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.core.exceptions import api_exception_handler
from tests.helpers import assert_envelope

pytestmark = pytest.mark.django_db


def test_request_id_is_generated_and_echoed(viewer_client):
    generated = viewer_client.get("/api/v1/stations")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f-]{36}", generated)
    echoed = viewer_client.get("/api/v1/stations", HTTP_X_REQUEST_ID="trace-abc.123")
    assert echoed["X-Request-ID"] == "trace-abc.123"


def test_unsafe_request_id_is_replaced(viewer_client):
    response = viewer_client.get("/api/v1/stations", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert re.fullmatch(r"[0-9a-f-]{36}", response["X-Request-ID"])


def test_error_envelope_carries_the_echoed_request_id(anon_client):
    response = anon_client.get("/api/v1/stations", HTTP_X_REQUEST_ID="req-42")
    error = assert_envelope(response, 401, "AUTHENTICATION_REQUIRED")
    assert error["request_id"] == "req-42"


def test_health_and_pages_carry_request_id(db):
    assert Client().get("/health")["X-Request-ID"]
    assert Client().get("/admin/login/")["X-Request-ID"]


def test_unknown_api_path_is_404_envelope(viewer_client, anon_client):
    assert_envelope(viewer_client.get("/api/v1/no-such-thing"), 404, "NOT_FOUND")
    assert_envelope(anon_client.get("/api/v2/stations"), 404, "NOT_FOUND")


def test_unknown_object_is_404_envelope(viewer_client):
    assert_envelope(viewer_client.get("/api/v1/stations/nope"), 404, "NOT_FOUND")


def test_wrong_method_is_405_envelope(viewer_client):
    response = viewer_client.delete("/api/v1/auth/login")
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")


def test_paths_work_with_and_without_trailing_slash(viewer_client):
    assert viewer_client.get("/api/v1/stations").status_code == 200
    assert viewer_client.get("/api/v1/stations/").status_code == 200
    assert Client().get("/health").status_code in (200, 503)
    assert Client().get("/health/").status_code in (200, 503)


def test_post_with_trailing_slash_is_not_redirected(anon_client, viewer_user):
    from tests.helpers import PASSWORD

    response = anon_client.post(
        "/api/v1/auth/login/", {"username": "vera", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200


def test_rate_limit_headers_on_every_api_response(viewer_client, anon_client):
    for response in (
        viewer_client.get("/api/v1/stations"),
        viewer_client.get("/api/v1/no-such-thing"),
        anon_client.get("/api/v1/stations"),
    ):
        assert response["X-RateLimit-Limit"]
        assert int(response["X-RateLimit-Remaining"]) >= 0
        assert int(response["X-RateLimit-Reset"]) > time.time() - 1


@pytest.mark.usefixtures("rate_window_held")
def test_remaining_counts_down_per_user(viewer_client):
    first = int(viewer_client.get("/api/v1/stations")["X-RateLimit-Remaining"])
    second = int(viewer_client.get("/api/v1/stations")["X-RateLimit-Remaining"])
    assert second == first - 1


@pytest.mark.usefixtures("rate_window_held")
def test_user_limit_gives_429_with_retry_after(viewer_client, operator_client, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    for _ in range(3):
        assert viewer_client.get("/api/v1/stations").status_code == 200
    response = viewer_client.get("/api/v1/stations")
    assert_envelope(response, 429, "RATE_LIMITED")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response["X-RateLimit-Remaining"] == "0"
    # Another user has a budget of their own.
    assert operator_client.get("/api/v1/stations").status_code == 200


@pytest.mark.usefixtures("rate_window_held")
def test_anonymous_limit_is_per_address(settings, db):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    client = APIClient(REMOTE_ADDR="192.0.2.7")
    assert client.get("/api/v1/stations").status_code == 401
    assert client.get("/api/v1/stations").status_code == 401
    assert_envelope(client.get("/api/v1/stations"), 429, "RATE_LIMITED")
    assert APIClient(REMOTE_ADDR="192.0.2.8").get("/api/v1/stations").status_code == 401


def test_oversized_body_is_413_and_writes_nothing(admin_client, settings):
    from apps.stations.models import Station

    settings.HEIMDALL_MAX_REQUEST_BYTES = 1000
    payload = {"id": "big-one", "name": "x" * 2000}
    response = admin_client.post("/api/v1/stations", payload, format="json")
    error = assert_envelope(response, 413, "PAYLOAD_TOO_LARGE", "body")
    assert error["details"]["value"] > 1000
    assert not Station.objects.filter(pk="big-one").exists()


def test_nan_and_infinity_in_json_are_rejected(admin_client):
    body = (
        '{"id": "nan-station", "name": "n", "url": "http://a.example/", "latitude": NaN,'
        ' "longitude": 1, "frequency_min": 0, "frequency_max": 10}'
    )
    response = admin_client.post("/api/v1/stations", data=body, content_type="application/json")
    error = assert_envelope(response, 400, "VALIDATION_ERROR", "latitude")
    assert error["details"]["value"] == "NaN"


def test_unhandled_exception_becomes_500_envelope():
    class Boom(Exception):
        pass

    response = api_exception_handler(Boom("kaput"), {"view": None})
    assert response.status_code == 500
    assert response.data["error"]["code"] == "INTERNAL_ERROR"
    assert "kaput" not in response.data["error"]["message"]


def test_openapi_schema_validates_without_warnings():
    """`manage.py spectacular --validate --fail-on-warn`, in-process."""
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert not GENERATOR_STATS, (
        dict(GENERATOR_STATS._warn_cache),
        dict(GENERATOR_STATS._error_cache),
    )
    validate_schema(schema)


def test_schema_served_and_docs_use_local_assets(viewer_client):
    schema = viewer_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/stations" in paths
    assert "/api/v1/auth/login" in paths
    docs = viewer_client.get("/api/v1/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html
