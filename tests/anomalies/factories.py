"""Anomaly events. Ingest raises them from scored detections (tests.signals.factories.ingest);
this factory writes one directly, for reads that need an event without its detection."""

import uuid

import factory
from factory.django import DjangoModelFactory

from apps.anomalies.models import AnomalyEvent
from apps.core.timeutil import utc_now
from tests.stations.factories import StationFactory


class AnomalyEventFactory(DjangoModelFactory):
    class Meta:
        model = AnomalyEvent

    detection_id = factory.LazyFunction(uuid.uuid4)
    detection_timestamp = factory.LazyFunction(utc_now)
    station = factory.SubFactory(StationFactory)
    frequency_hz = 14_235_000
    anomaly_score = 0.9
    event_type = "power_jump"
    severity = AnomalyEvent.Severity.HIGH
    description = "test"
