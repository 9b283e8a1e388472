"""Detections as clients send them, stored through `apps.signals.services.detection_ingest`."""

import uuid

import factory

from apps.core.timeutil import isoformat_z, utc_now
from apps.signals.services import detection_ingest


class DetectionFactory(factory.DictFactory):
    """One ingest item (a dict): `DetectionFactory(when=t, frequency_hz=7_100_000)`.

    `when` (an aware datetime, default now) becomes `detection_timestamp`.
    """

    class Params:
        when = factory.LazyFunction(utc_now)

    id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    websdr_station_id = "twente-nl"
    frequency_hz = 14_235_000
    signal_strength_db = -73.5
    bandwidth_hz = 2400
    modulation_type = "USB"
    signal_features = factory.LazyFunction(
        lambda: {"spectral_centroid": 1500.0, "snr_estimate": 15.3}
    )
    anomaly_score = 0.15
    detection_timestamp = factory.LazyAttribute(lambda o: isoformat_z(o.when))
    processing_metadata = factory.LazyFunction(
        lambda: {"processing_time_ms": 125, "model_version": "1.2.0"}
    )


def ingest(*items: dict):
    """Store `items` through the ingest service (validation, partitions, anomaly events)."""
    return detection_ingest(detections=list(items))
