"""Test data for the console tests: stations, detections (as clients send them), ingest.

Through the apps' factories (tests/<app>/factories.py, factory_boy, real services)
where they exist, else the older tests/factories.py helpers: one place to adapt.
"""

from datetime import datetime

try:  # factory_boy factories per app
    from tests.signals.factories import DetectionFactory
    from tests.signals.factories import ingest as _ingest
    from tests.stations.factories import StationFactory

    def station(station_id: str = "twente-nl", **extra):
        return StationFactory(id=station_id, **extra)

    def detection(when: datetime, station_id: str = "twente-nl", **extra) -> dict:
        return DetectionFactory(when=when, websdr_station_id=station_id, **extra)

    def ingest(*items: dict):
        return _ingest(*items)

except ImportError:  # pragma: no cover - before the per-app factories
    from tests.factories import detection, ingest, station  # noqa: F401
