"""Test data for the console tests: stations, detections (as clients send them), ingest —
through the apps' factory_boy factories (tests/<app>/factories.py, the real services)."""

from datetime import datetime

from tests.signals.factories import DetectionFactory
from tests.signals.factories import ingest as _ingest
from tests.stations.factories import StationFactory

# The backend that loads a session's user (the first one only counts login attempts).
SESSION_BACKEND = "apps.accounts.backends.UsernameOrEmailBackend"


def station(station_id: str = "twente-nl", **extra):
    return StationFactory(id=station_id, **extra)


def detection(when: datetime, station_id: str = "twente-nl", **extra) -> dict:
    return DetectionFactory(when=when, websdr_station_id=station_id, **extra)


def ingest(*items: dict):
    return _ingest(*items)
