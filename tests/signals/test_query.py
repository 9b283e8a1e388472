from datetime import datetime, timedelta

import pytest

from apps.core.timeutil import utc_now
from tests.helpers import assert_envelope, yesterday_noon
from tests.signals.factories import DetectionFactory, ingest
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/signals/detections"
# Not a fixed date: 90 days on (HEIMDALL_DETECTION_RETENTION_DAYS) ingest refuses it.
T0 = yesterday_noon()


@pytest.fixture
def dataset(db):
    """30 detections, one a minute from T0 backwards, over two stations and two bands."""
    StationFactory(id="twente-nl")
    StationFactory(id="hackgreen-uk")
    items = []
    for i in range(30):
        items.append(
            DetectionFactory(
                when=T0 - timedelta(minutes=i),
                websdr_station_id="twente-nl" if i % 2 == 0 else "hackgreen-uk",
                frequency_hz=14_100_000 + i * 10_000 if i < 20 else 7_050_000,
                modulation_type="USB" if i % 3 else "CW",
                anomaly_score=0.9 if i % 10 == 0 else 0.1,
            )
        )
    ingest(*items)
    return items


def z(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_role_reads(role, role_clients, dataset):
    assert role_clients[role].get(URL).status_code == 200


def test_seed_example_query(viewer_client, dataset):
    params = {
        "frequency_min": 14_000_000,
        "frequency_max": 15_000_000,
        "time_start": z(T0 - timedelta(minutes=15)),
        "time_end": z(T0),
        "websdr_station": "twente-nl",
        "page": 1,
        "page_size": 5,
    }
    body = viewer_client.get(URL, params).json()
    # minutes 0,2,...,14 on twente in 14 MHz → 8 detections
    assert body["pagination"] == {
        "page": 1,
        "page_size": 5,
        "total_items": 8,
        "total_pages": 2,
        "has_next": True,
        "has_previous": False,
    }
    assert [d["detection_timestamp"] for d in body["data"]] == [
        z(T0 - timedelta(minutes=m)) for m in (0, 2, 4, 6, 8)
    ]
    assert set(body["data"][0]) == {
        "id", "websdr_station_id", "frequency_hz", "signal_strength_db", "bandwidth_hz",
        "modulation_type", "anomaly_score", "is_anomaly", "detection_timestamp",
    }  # fmt: skip
    assert body["filters_applied"] == {
        "frequency_range": [14_000_000, 15_000_000],
        "time_range": [params["time_start"], params["time_end"]],
        "station": "twente-nl",
    }
    page2 = viewer_client.get(URL, {**params, "page": 2}).json()
    assert len(page2["data"]) == 3
    assert page2["pagination"]["has_previous"] is True


def test_extra_filters(viewer_client, dataset):
    assert (
        viewer_client.get(URL, {"modulation_type": "CW"}).json()["pagination"]["total_items"] == 10
    )
    anomalies = viewer_client.get(URL, {"is_anomaly": "true"}).json()
    assert anomalies["pagination"]["total_items"] == 3
    assert anomalies["filters_applied"] == {"is_anomaly": True}
    scored = viewer_client.get(URL, {"min_anomaly_score": 0.5}).json()
    assert scored["pagination"]["total_items"] == 3


def test_cursor_walks_everything_once_in_order(viewer_client, dataset):
    seen = []
    response = viewer_client.get(URL, {"cursor": "", "page_size": 7}).json()
    while True:
        seen.extend(d["id"] for d in response["data"])
        assert "total_items" not in response["pagination"]
        if not response["pagination"]["has_next"]:
            break
        response = viewer_client.get(
            URL, {"cursor": response["pagination"]["next_cursor"], "page_size": 7}
        ).json()
    expected = [item["id"] for item in dataset]  # built newest first
    assert seen == expected


def test_cursor_honours_filters(viewer_client, dataset):
    first = viewer_client.get(URL, {"cursor": "", "page_size": 2, "websdr_station": "hackgreen-uk"})
    body = first.json()
    assert {d["websdr_station_id"] for d in body["data"]} == {"hackgreen-uk"}
    assert body["filters_applied"] == {"station": "hackgreen-uk"}


def test_bad_cursor_is_400(viewer_client, dataset):
    assert_envelope(
        viewer_client.get(URL, {"cursor": "garbage"}), 400, "VALIDATION_ERROR", "cursor"
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": 0}, "page"),
        ({"page": "one"}, "page"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 1001}, "page_size"),
        ({"frequency_min": 10, "frequency_max": 5}, "frequency_max"),
        ({"frequency_min": -1}, "frequency_min"),
        ({"frequency_min": "nan"}, "frequency_min"),
        ({"time_start": "2026-01-02T00:00:00Z", "time_end": "2026-01-01T00:00:00Z"}, "time_end"),
        ({"time_start": "last tuesday"}, "time_start"),
        ({"websdr_station": "nowhere"}, "websdr_station"),
        ({"modulation_type": "SSTV2"}, "modulation_type"),
        ({"is_anomaly": "maybe"}, "is_anomaly"),
        ({"min_anomaly_score": "nan"}, "min_anomaly_score"),
        ({"min_anomaly_score": 2}, "min_anomaly_score"),
    ],
)
def test_bad_query_params_are_400_naming_the_field(viewer_client, dataset, params, field):
    assert_envelope(viewer_client.get(URL, params), 400, "VALIDATION_ERROR", field)


def test_page_past_the_end_is_empty(viewer_client, dataset):
    body = viewer_client.get(URL, {"page": 99}).json()
    assert body["data"] == []
    assert body["pagination"]["total_items"] == 30


def test_detail_has_every_field(viewer_client, dataset):
    item = dataset[0]
    body = viewer_client.get(f"{URL}/{item['id']}").json()
    assert body["id"] == item["id"]
    assert body["signal_features"] == item["signal_features"]
    assert body["processing_metadata"] == item["processing_metadata"]
    assert body["detection_timestamp"] == z(T0)
    assert body["created_at"].endswith("Z")
    assert body["anomaly_score"] == 0.9
    assert body["is_anomaly"] is True


def test_anonymous_is_refused(anon_client, dataset):
    assert_envelope(anon_client.get(URL), 401, "AUTHENTICATION_REQUIRED")


def test_recent_data_default_listing(viewer_client, db):
    StationFactory(id="twente-nl")
    ingest(DetectionFactory(when=utc_now()))
    assert viewer_client.get(URL).json()["pagination"]["total_items"] == 1


def test_cursor_breaks_timestamp_ties_by_id_both_ways(viewer_client, db):
    """Ten detections at one instant: forward and back again, each seen exactly once."""
    StationFactory(id="twente-nl")
    items = [DetectionFactory(when=T0) for _ in range(10)]
    ingest(*items)
    pages, response = [], viewer_client.get(URL, {"cursor": "", "page_size": 3}).json()
    assert response["pagination"]["has_previous"] is False
    while True:
        pages.append([d["id"] for d in response["data"]])
        if not response["pagination"]["has_next"]:
            break
        cursor = response["pagination"]["next_cursor"]
        response = viewer_client.get(URL, {"cursor": cursor, "page_size": 3}).json()
    forward = [row_id for page in pages for row_id in page]
    assert forward == sorted((item["id"] for item in items), reverse=True)
    assert [len(page) for page in pages] == [3, 3, 3, 1]
    # Back from the last page: the pages before it, in the same order.
    for expected in reversed(pages[:-1]):
        cursor = response["pagination"]["previous_cursor"]
        response = viewer_client.get(URL, {"cursor": cursor, "page_size": 3}).json()
        assert [d["id"] for d in response["data"]] == expected
    assert response["pagination"]["has_previous"] is False
    assert response["pagination"]["previous_cursor"] is None


def test_forged_cursor_with_a_bad_id_is_400(viewer_client, dataset):
    import base64

    token = base64.urlsafe_b64encode(b'["2026-11-20T12:00:00+00:00", "not-a-uuid", 0]').decode()
    assert_envelope(viewer_client.get(URL, {"cursor": token}), 400, "VALIDATION_ERROR", "cursor")
