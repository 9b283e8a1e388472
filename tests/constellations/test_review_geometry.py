"""Localization on geometries the local projection got wrong (found by review):
receivers across the antimeridian, near a pole, and spanning continents."""

import math

import numpy as np
import pytest

from apps.constellations.locate import Measurement, locate, posterior
from apps.radio.propagation import EARTH_RADIUS_M, PropagationModel

FREQUENCY_HZ = 145_500_000
POWER_DBM = 37.0


def haversine_m(lat1, lon1, lat2, lon2) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)  # fmt: skip
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def measurements(receivers, transmitter) -> list[Measurement]:
    """Noise-free strengths at `receivers` [(lat, lon)] from `transmitter` (lat, lon)."""
    model = PropagationModel(frequency_mhz=FREQUENCY_HZ / 1e6)
    return [
        Measurement(station_id=f"rx-{i}", latitude=lat, longitude=lon, offset_db=0.0,
                    reported_db=float(model.received_power_dbm(
                        POWER_DBM, np.array(haversine_m(lat, lon, *transmitter)))))
        for i, (lat, lon) in enumerate(receivers)
    ]  # fmt: skip


# Fiji straddles 180°: receivers on both sides, the transmitter just east of it.
ANTIMERIDIAN = [(-17.0, 179.7), (-17.3, -179.8), (-16.8, -179.9), (-17.4, 179.9)]
FIJI_TX = (-17.1, -179.95)


def test_receivers_across_the_antimeridian_locate_the_transmitter_there():
    # Found: the origin was the arithmetic mean of the longitudes (≈ 0°), so the fix came
    # out at longitude ≈ 60° (half a world away) with a 3,671 km CEP95.
    result = locate(measurements(ANTIMERIDIAN, FIJI_TX), frequency_hz=FREQUENCY_HZ,
                    method="wls", tx_power_dbm=POWER_DBM)  # fmt: skip
    assert -180.0 <= result.longitude <= 180.0
    assert haversine_m(result.latitude, result.longitude, *FIJI_TX) < 1_000.0
    # The same network moved 180° west (around Greenwich) gives the same fix, moved back.
    shifted = [(lat, lon - 180.0 if lon > 0 else lon + 180.0) for lat, lon in ANTIMERIDIAN]
    twin = locate(measurements(shifted, (FIJI_TX[0], FIJI_TX[1] + 180.0)),
                  frequency_hz=FREQUENCY_HZ, method="wls", tx_power_dbm=POWER_DBM)  # fmt: skip
    assert result.latitude == pytest.approx(twin.latitude, abs=1e-5)
    assert result.longitude == pytest.approx(twin.longitude - 180.0, abs=1e-5)
    assert result.uncertainty.cep95_m == pytest.approx(twin.uncertainty.cep95_m, rel=1e-3)


def test_the_posterior_across_the_antimeridian_has_continuous_bounds_in_degrees():
    found = measurements(ANTIMERIDIAN, FIJI_TX)
    result = locate(found, frequency_hz=FREQUENCY_HZ, method="wls", tx_power_dbm=POWER_DBM)
    grid = posterior(found, frequency_hz=FREQUENCY_HZ, method="wls", model_id=None,
                     tx_power_dbm=POWER_DBM, latitude=result.latitude,
                     longitude=result.longitude,
                     semi_major_m=result.uncertainty.semi_major_m).as_dict()  # fmt: skip
    (south, west), (north, east) = grid["bounds"]
    assert -90.0 <= south < north <= 90.0
    assert -180.0 <= west < 180.0 and west < east <= west + 360.0
    # The heat map covers the fix (east may pass 180°, as Leaflet's continuous world does).
    fix_east = result.longitude if result.longitude >= west else result.longitude + 360.0
    assert west <= fix_east <= east and south <= result.latitude <= north
    assert math.isclose(sum(grid["probabilities"]), 1.0, rel_tol=1e-9)


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["wls", "auto"])
def test_receivers_near_the_pole_give_coordinates_on_the_globe(method):
    # Found: the posterior's bounds reached longitudes of ±942,481,034° and latitudes
    # past 90°.
    receivers = [(89.99, 0.0), (89.99, 120.0), (89.99, -120.0)]
    found = [Measurement(station_id=f"po-{i}", latitude=lat, longitude=lon,
                         reported_db=-90.0 - 10 * i, offset_db=0.0)
             for i, (lat, lon) in enumerate(receivers)]  # fmt: skip
    result = locate(found, frequency_hz=FREQUENCY_HZ, method=method)
    assert -90.0 <= result.latitude <= 90.0 and -180.0 <= result.longitude <= 180.0
    grid = posterior(found, frequency_hz=FREQUENCY_HZ, method="wls", model_id=None,
                     tx_power_dbm=None, latitude=result.latitude,
                     longitude=result.longitude,
                     semi_major_m=result.uncertainty.semi_major_m).as_dict()  # fmt: skip
    (south, west), (north, east) = grid["bounds"]
    assert -90.0 <= south < north <= 90.0
    assert -180.0 <= west < east <= west + 360.0


def test_receivers_spanning_continents_are_warned_about():
    # Found: receivers 10,000 km apart were located on a flat local map without a word.
    receivers = [(-60.0, 0.0), (60.0, 90.0), (0.0, -150.0)]
    found = [Measurement(station_id=f"far-{i}", latitude=lat, longitude=lon,
                         reported_db=-90.0 - 10 * i, offset_db=0.0)
             for i, (lat, lon) in enumerate(receivers)]  # fmt: skip
    result = locate(found, frequency_hz=14_000_000, method="wls")
    assert any("span" in warning and "km" in warning for warning in result.warnings)
