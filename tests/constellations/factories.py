"""Constellations, created through `apps.constellations.services` (owner grants included),
and localization scenarios: the demo network's Italian receivers, transmitters, strengths."""

import factory
import numpy as np

from apps.constellations import services
from apps.constellations.models import Constellation
from apps.constellations.services import constellation_create
from apps.radio.propagation import PropagationModel, to_local_metres
from apps.stations.demo import demo_station_rows
from apps.stations.models import Station
from tests.accounts.factories import UserFactory


class ConstellationFactory(factory.Factory):
    """`ConstellationFactory(owner=user, name="North")`; the owner holds every permission."""

    class Meta:
        model = Constellation

    owner = factory.SubFactory(UserFactory, role="operator")
    name = factory.Sequence(lambda n: f"Constellation {n}")
    description = ""

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return constellation_create(**kwargs)


# The VHF/UHF demo receivers in Piedmont, Liguria and Lombardy (apps/stations/demo.py).
ITALIAN = [row for row in demo_station_rows() if row["id"].endswith("-it")]
TX = (45.0, 8.2)  # a transmitter among them
POWER_DBM = 37.0
FREQUENCY_HZ = 145_500_000


def italian_stations(**offsets_db) -> list[Station]:
    """The Italian demo stations; keyword arguments set calibration offsets by station id
    (dashes as underscores)."""
    fields = ("id", "name", "url", "location", "latitude", "longitude", "frequency_min",
              "frequency_max", "api_config")  # fmt: skip
    stations = []
    for row in ITALIAN:
        offset = offsets_db.get(row["id"].replace("-", "_"), 0.0)
        stations.append(Station.objects.create(
            **{k: row[k] for k in fields}, calibration_offset_db=offset))  # fmt: skip
    return stations


def constellation_of(owner, station_ids, name="Northern Italy"):
    constellation = services.constellation_create(owner=owner, name=name, description="")
    for station_id in station_ids:
        services.member_add(constellation=constellation, station_id=station_id, added_by=owner)
    return constellation


def strengths(station_ids, *, tx=TX, power_dbm=POWER_DBM, frequency_hz=FREQUENCY_HZ,
              shadowing_seed=None, offsets=None) -> dict[str, float]:  # fmt: skip
    """What each station would report from a transmitter at `tx`: the mean path loss
    (docs/training.md), plus shadowing when a seed is given, plus each station's offset."""
    rows = {row["id"]: row for row in ITALIAN}
    model = PropagationModel(frequency_mhz=frequency_hz / 1e6)
    rng = np.random.default_rng(shadowing_seed) if shadowing_seed is not None else None
    lat = np.array([rows[s]["latitude"] for s in station_ids])
    lon = np.array([rows[s]["longitude"] for s in station_ids])
    # In the service's frame (around the receivers' centroid), so noise-free fits are exact.
    origin = (lat.mean(), lon.mean())
    xy = to_local_metres(lat, lon, *origin) - to_local_metres(*tx, *origin)
    power = model.received_power_dbm(power_dbm, np.linalg.norm(xy, axis=1), rng)
    offsets = offsets or {}
    return {
        s: round(float(p) + offsets.get(s, 0.0), 6) for s, p in zip(station_ids, power, strict=True)
    }


def measurements(values: dict[str, float]) -> list[dict]:
    return [{"websdr_station_id": s, "signal_strength_db": v} for s, v in values.items()]


def distance_m(a, b) -> float:
    return float(np.linalg.norm(to_local_metres(a[0], a[1], *b)))
