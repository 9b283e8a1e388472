"""Stations and their checks, created through `apps.stations.services.station_create`."""

import factory
from factory.django import DjangoModelFactory

from apps.core.timeutil import utc_now
from apps.stations.models import Station, StationCheck
from apps.stations.services import EDITABLE_FIELDS, station_create


class StationFactory(factory.Factory):
    """`StationFactory(id="twente-nl", status="inactive")`: an HF receiver (0-30 MHz) at
    52° N 6° E unless told otherwise."""

    class Meta:
        model = Station

    id = factory.Sequence(lambda n: f"station-{n}")
    name = factory.LazyAttribute(lambda o: o.id)
    url = "http://example.org/"
    location = ""
    latitude = 52.0
    longitude = 6.0
    frequency_min = 0
    frequency_max = 30_000_000

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        """station_create for what an admin sets; the live state (last_seen, connection_status,
        ...) the collectors keep current is written after it, as they write it: one UPDATE."""
        live = {k: kwargs.pop(k) for k in list(kwargs) if k not in {"id", *EDITABLE_FIELDS}}
        station = station_create(**kwargs)
        if live:
            Station.objects.filter(pk=station.pk).update(**live)
            station.refresh_from_db()
        return station


class StationCheckFactory(DjangoModelFactory):
    """One uptime check of a station (written by the collectors' health checks)."""

    class Meta:
        model = StationCheck

    station = factory.SubFactory(StationFactory)
    checked_at = factory.LazyFunction(utc_now)
    ok = True
