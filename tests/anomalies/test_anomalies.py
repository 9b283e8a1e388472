from datetime import timedelta

import pytest

from apps.anomalies.classification import severity_for
from apps.anomalies.models import AnomalyEvent
from tests.helpers import assert_envelope, yesterday_noon
from tests.signals.factories import DetectionFactory, ingest
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/anomalies"
# Not a fixed date: 90 days on (HEIMDALL_DETECTION_RETENTION_DAYS) ingest refuses it.
T0 = yesterday_noon()


@pytest.fixture
def events(db):
    StationFactory(id="twente-nl")
    StationFactory(id="hackgreen-uk")
    scores = [0.6, 0.75, 0.9, 0.99, 0.65]  # low, medium, high, critical, low
    ingest(
        *[
            DetectionFactory(
                when=T0 - timedelta(minutes=i),
                websdr_station_id="twente-nl" if i < 3 else "hackgreen-uk",
                frequency_hz=14_235_000 + 10_000 * i,  # one channel each: one event each
                anomaly_score=score,
            )
            for i, score in enumerate(scores)
        ]
    )
    return list(AnomalyEvent.objects.order_by("-detection_timestamp"))


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        (0.5, "low"),
        (0.6999, "low"),
        (0.7, "medium"),
        (0.85, "high"),
        (0.95, "critical"),
        (1.0, "critical"),
    ],
)
def test_severity_bands(score, severity):
    assert severity_for(score) == severity


def test_list_with_summary(viewer_client, events):
    body = viewer_client.get(URL).json()
    assert body["summary"] == {
        "total_anomalies": 5,
        "by_severity": {"critical": 1, "high": 1, "medium": 1, "low": 2},
        "acknowledged_count": 0,
        "unacknowledged_count": 5,
    }
    assert body["pagination"]["total_items"] == 5
    item = body["data"][0]
    assert {"id", "detection_id", "event_type", "severity", "description", "acknowledged",
            "created_at"} <= set(item)  # fmt: skip


def test_filters(viewer_client, events):
    high = viewer_client.get(URL, {"severity": "high,critical"}).json()
    assert {e["severity"] for e in high["data"]} == {"high", "critical"}
    assert high["summary"]["total_anomalies"] == 2
    station = viewer_client.get(URL, {"station": "hackgreen-uk"}).json()
    assert station["summary"]["total_anomalies"] == 2
    assert (
        viewer_client.get(URL, {"acknowledged": "true"}).json()["summary"]["total_anomalies"] == 0
    )
    future = viewer_client.get(URL, {"time_start": "2999-01-01T00:00:00Z"}).json()
    assert future["summary"]["total_anomalies"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"severity": "apocalyptic"}, "severity"),
        ({"acknowledged": "perhaps"}, "acknowledged"),
        ({"station": "nowhere"}, "station"),
        ({"time_start": "soon"}, "time_start"),
        ({"time_start": "2026-01-02T00:00:00Z", "time_end": "2026-01-01T00:00:00Z"}, "time_end"),
        ({"page_size": 5000}, "page_size"),
    ],
)
def test_bad_filters(viewer_client, events, params, field):
    assert_envelope(viewer_client.get(URL, params), 400, "VALIDATION_ERROR", field)


def test_operator_acknowledges_once(operator_client, operator_user, events):
    event = events[0]
    response = operator_client.post(
        f"{URL}/{event.id}/acknowledge", {"notes": "equipment test"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(event.id)
    assert body["acknowledged"] is True
    assert body["acknowledged_by"] == str(operator_user.pk)
    assert body["acknowledged_at"].endswith("Z")
    assert body["notes"] == "equipment test"
    again = operator_client.post(f"{URL}/{event.id}/acknowledge", {}, format="json")
    assert_envelope(again, 409, "CONFLICT")
    event.refresh_from_db()
    assert event.notes == "equipment test"
    summary = operator_client.get(URL).json()["summary"]
    assert (summary["acknowledged_count"], summary["unacknowledged_count"]) == (1, 4)


def test_viewer_cannot_acknowledge(viewer_client, events):
    event = events[0]
    response = viewer_client.post(f"{URL}/{event.id}/acknowledge", {}, format="json")
    assert_envelope(response, 403, "PERMISSION_DENIED")
    event.refresh_from_db()
    assert event.acknowledged is False
    assert event.acknowledged_by is None


def test_acknowledge_validation_and_unknown(admin_client, events):
    event = events[0]
    assert_envelope(
        admin_client.post(f"{URL}/{event.id}/acknowledge", {"notes": "x" * 2001}, format="json"),
        400,
        "VALIDATION_ERROR",
        "notes",
    )
    event.refresh_from_db()
    assert event.acknowledged is False
    assert_envelope(
        admin_client.post(f"{URL}/00000000-0000-0000-0000-000000000000/acknowledge", {},
                          format="json"),
        404,
        "NOT_FOUND",
    )  # fmt: skip


def test_detail(viewer_client, events):
    body = viewer_client.get(f"{URL}/{events[0].id}").json()
    assert body["metadata"]["geographic_correlation"] == ["twente-nl"]
    assert body["metadata"]["confidence"] == 0.6
