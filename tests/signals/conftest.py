"""Fixtures shared by the signals tests."""

import pytest

from tests.stations.factories import StationFactory


@pytest.fixture
def stations(db):
    """The station the ingest tests' detections name (DetectionFactory's default)."""
    StationFactory(id="twente-nl")


@pytest.fixture
def small_chunks(monkeypatch):
    """Three rows per chunk of the streamed COPY (apps.signals.services.CHUNK_ROWS), so a
    few dozen items take the multi-chunk path."""
    from apps.signals import services

    monkeypatch.setattr(services, "CHUNK_ROWS", 3)
