"""Small builders for test data, going through the real services."""

import uuid
from datetime import datetime

from apps.signals.services import detection_ingest
from apps.stations.models import Station


def station(station_id: str = "twente-nl", **extra) -> Station:
    defaults = {
        "name": station_id,
        "url": "http://example.org/",
        "latitude": 52.0,
        "longitude": 6.0,
        "frequency_min": 0,
        "frequency_max": 30_000_000,
    }
    return Station.objects.create(id=station_id, **{**defaults, **extra})


def detection(when: datetime, station_id: str = "twente-nl", **extra) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "websdr_station_id": station_id,
        "frequency_hz": 14_235_000,
        "signal_strength_db": -73.5,
        "bandwidth_hz": 2400,
        "modulation_type": "USB",
        "signal_features": {"spectral_centroid": 1500.0, "snr_estimate": 15.3},
        "anomaly_score": 0.15,
        "detection_timestamp": when.isoformat().replace("+00:00", "Z"),
        "processing_metadata": {"processing_time_ms": 125, "model_version": "1.2.0"},
        **extra,
    }


def ingest(*items: dict):
    return detection_ingest(detections=list(items))
