"""Date-time query parameters: any ISO 8601 offset Python accepts, converted to UTC
before the database sees it (PostgreSQL takes offsets up to ±15:59 only), and instants
outside years 1-9999 in UTC are the parameter's 400 — never a 500 (found by `make fuzz`:
`GET /localizations?time_start=0337-03-01T09:03:04-22:24`)."""

import pytest

from tests.helpers import assert_envelope

pytestmark = pytest.mark.django_db

LISTS = [
    ("/api/v1/signals/detections", "time_start"),
    ("/api/v1/signals/detections", "time_end"),
    ("/api/v1/anomalies", "time_start"),
    ("/api/v1/anomalies", "time_end"),
    ("/api/v1/localizations", "time_start"),
    ("/api/v1/localizations", "time_end"),
    ("/api/v1/recordings", "start_time"),
    ("/api/v1/recordings", "end_time"),
]


@pytest.mark.parametrize(("url", "param"), LISTS)
@pytest.mark.parametrize(
    "value", ["0337-03-01T09:03:04-22:24", "0633-02-18T16:37:25.35+23:31", "2026-01-01T00:00Z"]
)
def test_any_offset_is_taken_in_utc(admin_client, url, param, value):
    response = admin_client.get(url, {param: value})
    assert response.status_code == 200, response.content
    assert response.json()["data"] == []


@pytest.mark.parametrize(("url", "param"), LISTS)
@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_an_instant_outside_years_1_to_9999_in_utc_is_named(admin_client, url, param, value):
    response = admin_client.get(url, {param: value})
    assert_envelope(response, 400, "VALIDATION_ERROR", param)
