from datetime import timedelta

import pytest

from apps.core.timeutil import utc_now
from tests.helpers import assert_envelope
from tests.signals.factories import DetectionFactory, ingest
from tests.stations.factories import StationCheckFactory, StationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def now():
    return utc_now()


@pytest.fixture
def data(now):
    twente = StationFactory(id="twente-nl")
    StationFactory(id="hackgreen-uk")
    StationFactory(id="off-air", status="inactive")
    minutes = [1, 2, 3, 4, 5, 6]
    ago = lambda **kw: now - timedelta(**kw)  # noqa: E731
    items = [
        DetectionFactory(when=ago(minutes=1), frequency_hz=14_235_000),
        DetectionFactory(when=ago(minutes=2), frequency_hz=14_235_000),
        DetectionFactory(when=ago(minutes=3), frequency_hz=14_050_000, anomaly_score=0.9),
        DetectionFactory(when=ago(minutes=4), websdr_station_id="hackgreen-uk",
                         frequency_hz=145_500_000, anomaly_score=0.99),
        DetectionFactory(when=ago(minutes=5), websdr_station_id="hackgreen-uk",
                         frequency_hz=433_000_000, processing_metadata={"processing_time_ms": 75}),
        DetectionFactory(when=ago(hours=30), frequency_hz=14_235_000),  # outside 24h
    ]  # fmt: skip
    assert len(minutes) == len(items)
    ingest(*items)
    StationCheckFactory(station=twente, checked_at=now - timedelta(minutes=5), ok=True)
    StationCheckFactory(station=twente, checked_at=now - timedelta(minutes=6), ok=False)
    return items


def test_summary_24h(viewer_client, data):
    body = viewer_client.get("/api/v1/statistics/summary", {"time_period": "24h"}).json()
    assert body["time_period"] == "24h"
    assert body["generated_at"].endswith("Z")
    assert body["signal_detections"] == {
        "total": 5,
        "by_station": {"twente-nl": 3, "hackgreen-uk": 2},
        "by_frequency_band": {"hf": 3, "vhf": 1, "uhf": 1},
    }
    assert body["anomalies"] == {
        "total": 2,
        "by_severity": {"critical": 1, "high": 1, "medium": 0, "low": 0},
        "detection_rate": 0.4,
    }
    assert body["system_health"] == {
        "uptime_percentage": 50.0,
        "average_processing_time_ms": 115.0,  # (125 * 4 + 75) / 5
        "active_stations": 2,
        "total_stations": 3,
    }


def test_summary_periods(viewer_client, data):
    assert viewer_client.get("/api/v1/statistics/summary").json()["time_period"] == "24h"
    body = viewer_client.get("/api/v1/statistics/summary", {"time_period": "7d"}).json()
    assert body["signal_detections"]["total"] == 6
    assert_envelope(
        viewer_client.get("/api/v1/statistics/summary", {"time_period": "2w"}),
        400,
        "VALIDATION_ERROR",
        "time_period",
    )


def test_frequency_usage_bins_add_up(viewer_client, data):
    params = {"frequency_min": 14_000_000, "frequency_max": 14_300_000, "time_period": "24h",
              "granularity": "1h", "bin_width_hz": 100_000}  # fmt: skip
    body = viewer_client.get("/api/v1/statistics/frequency-usage", params).json()
    assert body["frequency_range"] == [14_000_000, 14_300_000]
    assert body["granularity"] == "1h"
    counts = [b["signal_count"] for row in body["data"] for b in row["frequency_bins"]]
    assert sum(counts) == body["total_signals"] == 3
    bins = {
        (b["frequency_start"], b["frequency_end"]): b
        for row in body["data"]
        for b in row["frequency_bins"]
    }
    merged = {}
    for (start, end), b in bins.items():
        merged.setdefault((start, end), 0)
        merged[(start, end)] += b["signal_count"]
    assert set(merged) <= {(14_000_000, 14_100_000), (14_200_000, 14_300_000)}
    assert body["popular_frequencies"][0] == {
        "frequency": 14_235_000,
        "signal_count": 2,
        "percentage": 66.67,
    }
    assert all(row["timestamp"].endswith(":00:00Z") for row in body["data"])


def test_frequency_usage_includes_the_upper_edge(viewer_client, data):
    params = {"frequency_min": 14_035_000, "frequency_max": 14_235_000, "bin_width_hz": 100_000}
    body = viewer_client.get("/api/v1/statistics/frequency-usage", params).json()
    assert body["total_signals"] == 3
    edges = {b["frequency_end"] for row in body["data"] for b in row["frequency_bins"]}
    assert max(edges) == 14_235_000


def test_frequency_usage_defaults_to_ten_bins(viewer_client, data):
    body = viewer_client.get(
        "/api/v1/statistics/frequency-usage", {"frequency_min": 0, "frequency_max": 500_000_000}
    ).json()
    assert body["bin_width_hz"] == 50_000_000
    assert body["total_signals"] == 5


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"frequency_max": 10}, "frequency_min"),
        ({"frequency_min": 10}, "frequency_max"),
        ({"frequency_min": 10, "frequency_max": 5}, "frequency_max"),
        ({"frequency_min": 0, "frequency_max": 10_000, "bin_width_hz": 1}, "bin_width_hz"),
        ({"frequency_min": 0, "frequency_max": 10, "bin_width_hz": 0}, "bin_width_hz"),
        ({"frequency_min": 0, "frequency_max": 10, "granularity": "1m", "time_period": "30d"},
         "granularity"),
        ({"frequency_min": 0, "frequency_max": 10, "granularity": "2h"}, "granularity"),
        ({"frequency_min": "x", "frequency_max": 10}, "frequency_min"),
    ],
)  # fmt: skip
def test_frequency_usage_validation(viewer_client, data, params, field):
    response = viewer_client.get("/api/v1/statistics/frequency-usage", params)
    assert_envelope(response, 400, "VALIDATION_ERROR", field)


def test_statistics_need_auth(anon_client, db):
    assert_envelope(anon_client.get("/api/v1/statistics/summary"), 401, "AUTHENTICATION_REQUIRED")
