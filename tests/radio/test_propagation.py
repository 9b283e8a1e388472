"""Groundwork for synthetic localization data (issue 6): propagation, GDOP, WLS."""

import math

import numpy as np
import pytest

from apps.radio.propagation import (
    PropagationModel,
    crb_metres,
    gdop,
    to_local_metres,
    wls_localize,
)

MODEL = PropagationModel(frequency_mhz=145.0, path_loss_exponent=2.8, shadowing_db=6.0)


def test_free_space_reference_and_log_distance_slope():
    # FSPL at 1 km and 145 MHz: 20 log10(145) + 32.44 = 75.67 dB.
    assert MODEL.mean_path_loss_db(np.array([1000.0]))[0] == pytest.approx(75.67, abs=0.01)
    # Ten times farther: 10 n = 28 dB more.
    assert MODEL.mean_path_loss_db(np.array([10_000.0]))[0] == pytest.approx(75.67 + 28, abs=0.01)


def test_noise_floor_from_bandwidth_and_noise_figure():
    # -174 + 10 log10(12500) + 6 = -127.03 dBm
    assert MODEL.noise_floor_dbm == pytest.approx(-127.03, abs=0.01)


def test_shadowing_is_log_normal_with_the_given_sigma():
    rng = np.random.default_rng(0)
    samples = MODEL.received_power_dbm(37.0, np.full(20_000, 5000.0), rng)
    mean = MODEL.received_power_dbm(37.0, np.array([5000.0]))[0]
    assert samples.mean() == pytest.approx(mean, abs=0.15)
    assert samples.std() == pytest.approx(6.0, abs=0.1)


def test_local_projection_distances():
    points = to_local_metres([45.0, 45.0, 46.0], [7.0, 8.0, 7.0], 45.0, 7.0)
    assert np.linalg.norm(points[1]) == pytest.approx(78_626, rel=0.002)  # 1° lon at 45°N
    assert np.linalg.norm(points[2]) == pytest.approx(111_195, rel=0.002)  # 1° lat


def test_gdop_on_known_geometries():
    centre = np.zeros(2)
    square = np.array([[10_000, 0], [0, 10_000], [-10_000, 0], [0, -10_000.0]])
    # Symmetric square, distance d: J = (10n/ln10)^2 / sigma^2 * (4 / d^2) * I/2 ... closed form:
    g = 10 * 2.8 / math.log(10)
    expected_crb = math.sqrt(2 / (2 * g**2 / (6.0**2 * 10_000.0**2)))
    assert crb_metres(centre, square, MODEL) == pytest.approx(expected_crb, rel=1e-9)
    assert gdop(centre, square, MODEL) == pytest.approx(1.0, rel=1e-9)  # as ranging GDOP
    # Receivers on a line through the target: no information across it.
    line = np.array([[10_000, 0], [20_000, 0], [-10_000, 0.0]])
    assert math.isinf(gdop(centre, line, MODEL))
    # Outside the constellation the geometry is worse than at its centre.
    assert gdop(np.array([40_000.0, 0]), square, MODEL) > gdop(centre, square, MODEL)


def test_wls_recovers_the_transmitter_without_noise():
    receivers = np.array([[0, 0], [30_000, 0], [0, 30_000], [30_000, 30_000.0], [15_000, -5000]])
    transmitter = np.array([12_000.0, 17_000.0])
    distances = np.linalg.norm(receivers - transmitter, axis=1)
    rss = MODEL.received_power_dbm(37.0, distances)
    estimate = wls_localize(receivers, rss, 37.0, MODEL)
    assert np.linalg.norm(estimate - transmitter) < 1.0


def test_wls_error_with_shadowing_is_near_the_bound():
    rng = np.random.default_rng(7)
    receivers = np.array([[0, 0], [30_000, 0], [0, 30_000], [30_000, 30_000.0], [15_000, -5000],
                          [-5000, 15_000]])  # fmt: skip
    transmitter = np.array([14_000.0, 13_000.0])
    distances = np.linalg.norm(receivers - transmitter, axis=1)
    errors = [
        np.linalg.norm(
            wls_localize(receivers, MODEL.received_power_dbm(37.0, distances, rng), 37.0, MODEL)
            - transmitter
        )
        for _ in range(300)
    ]
    bound = crb_metres(transmitter, receivers, MODEL)
    rms = math.sqrt(np.mean(np.square(errors)))
    assert bound < rms < 3 * bound  # an unbiased-ish estimator can't beat the CRB
