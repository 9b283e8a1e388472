"""apps.radio.localization: WLS with known and unknown power, uncertainty, posterior grid,
calibration offsets, and the WLS coverage scales on fresh synthetic data."""

import math

import numpy as np
import pytest

from apps.radio import localization as L
from apps.radio.propagation import PropagationModel, to_local_metres
from apps.training.generator import (
    DEFAULT_PARAMETERS,
    LocalizationParameters,
    generate_localization,
)

MODEL = PropagationModel(frequency_mhz=145.0)
SQUARE = np.array([[-40e3, -40e3], [40e3, -40e3], [40e3, 40e3], [-40e3, 40e3], [0, 55e3]])


def strengths(tx, receivers=SQUARE, power=37.0):
    return L.predicted_rss_dbm(np.asarray(tx, float), receivers, power, MODEL)


def test_to_lat_lon_inverts_the_projection():
    xy = np.array([[12_345.0, -67_890.0], [0.0, 0.0]])
    back = to_local_metres(*L.to_lat_lon(xy, 45.0, 8.5).T, 45.0, 8.5)
    assert np.allclose(back, xy, atol=1e-6)


@pytest.mark.parametrize("power", [37.0, None])
def test_wls_is_exact_without_shadowing(power):
    tx = np.array([13_000.0, -7_000.0])
    fix = L.wls_fix(SQUARE, strengths(tx), MODEL, power)
    assert np.linalg.norm(fix.position - tx) < 1.0
    assert fix.tx_power_estimated is (power is None)
    assert abs(fix.tx_power_dbm - 37.0) < 0.01
    assert np.abs(fix.residuals_db).max() < 0.01


def test_unknown_power_far_from_the_prior_is_found():
    tx = np.array([-5_000.0, 20_000.0])
    fix = L.wls_fix(SQUARE, strengths(tx, power=20.0), MODEL)
    # A MAP estimate: the weak prior (37 ± 10 dBm) pulls a power 17 dB below it by 1.5 dB.
    assert 20.0 < fix.tx_power_dbm < 22.0
    assert np.linalg.norm(fix.position - tx) < 4_000


def test_unknown_power_costs_precision():
    tx = np.array([10_000.0, 5_000.0])
    known = L.fisher_covariance(tx, SQUARE, MODEL, power_known=True)
    unknown = L.fisher_covariance(tx, SQUARE, MODEL, power_known=False)
    assert np.trace(unknown) > np.trace(known)
    # The known-power matrix is the inverse Fisher information of propagation's CRB.
    from apps.radio.propagation import crb_metres

    assert math.isclose(math.sqrt(np.trace(known)), crb_metres(tx, SQUARE, MODEL), rel_tol=1e-6)


def test_ellipse_orientation_and_scales():
    east_west = np.diag([400.0**2, 100.0**2])  # elongated along x (east)
    u = L.uncertainty_from_covariance(east_west, L.CoverageScales())
    assert math.isclose(u.orientation_deg, 90.0)
    assert math.isclose(u.semi_major_m, L.CHI2_2_Q95 * 400, rel_tol=1e-9)
    assert math.isclose(u.semi_minor_m, L.CHI2_2_Q95 * 100, rel_tol=1e-9)
    north_east = np.array([[2.0, 1.9], [1.9, 2.0]]) * 1e4
    assert math.isclose(
        L.uncertainty_from_covariance(north_east, L.CoverageScales()).orientation_deg, 45.0
    )
    circle = L.uncertainty_from_covariance(np.eye(2) * 100.0**2, L.CoverageScales())
    assert math.isclose(circle.cep50_m, 117.74, rel_tol=1e-3)


def test_coverage_scales_of_gaussian_errors_are_the_chi_square_radii():
    rng = np.random.default_rng(0)
    covariance = np.array([[4.0, 1.0], [1.0, 2.0]]) * 1e6
    errors = rng.multivariate_normal([0, 0], covariance, size=40_000)
    scales = L.coverage_scales(errors, np.broadcast_to(covariance, (len(errors), 2, 2)))
    assert math.isclose(scales.ellipse95, L.CHI2_2_Q95, rel_tol=0.02)


def test_likelihood_grid_peaks_at_the_transmitter_and_sums_to_one():
    tx = np.array([8_000.0, -3_000.0])
    xs, ys, weights = L.likelihood_grid(SQUARE, strengths(tx), MODEL, centre=np.zeros(2),
                                        half_width_m=30_000, cells=61)  # fmt: skip
    assert math.isclose(weights.sum(), 1.0)
    i, j = np.unravel_index(np.argmax(weights), weights.shape)
    assert abs(xs[i] - tx[0]) <= 1_000 and abs(ys[j] - tx[1]) <= 1_000
    grid = L.posterior_from_xy_grid(weights, xs, ys, 45.0, 8.5)
    data = grid.as_dict()
    assert data["shape"] == [61, 61] and math.isclose(sum(data["probabilities"]), 1.0)
    # Row 0 is the northernmost: the peak's row counts from the north.
    peak = int(np.argmax(data["probabilities"]))
    assert divmod(peak, 61) == (60 - j, i)


@pytest.mark.parametrize("known_power", [True, False])
def test_estimate_offsets_recovers_station_offsets(known_power):
    rng = np.random.default_rng(1)
    stations = ("a", "b", "c", "d", "e")
    truth = dict(zip(stations, rng.uniform(-10, 10, len(stations)), strict=True))
    if not known_power:  # only differences are defined: compare with mean zero
        mean = np.mean(list(truth.values()))
        truth = {s: v - mean for s, v in truth.items()}
    observations = []
    for _ in range(6):
        position = rng.uniform(-30e3, 30e3, 2)
        power = rng.uniform(25, 45)
        reported = strengths(position, power=power) + np.array([truth[s] for s in stations])
        observations.append(L.ReferenceObservation(
            position=position, tx_power_dbm=power if known_power else None, stations=stations,
            receivers=SQUARE, reported_dbm=reported))  # fmt: skip
    estimates = L.estimate_offsets(observations, MODEL)
    for station in stations:
        assert abs(estimates[station].offset_db - truth[station]) < 1e-6
        assert estimates[station].observations == 6
        assert estimates[station].standard_error_db > 0


def test_wls_scales_hold_on_fresh_synthetic_data():
    """The WLS coverage scales in apps.constellations.locate, on data they were not fitted on:
    the 95 % ellipse holds 90–98 % of true positions, the CEP50 circle 45–55 %."""
    from apps.constellations.locate import WLS_SCALES

    fields = LocalizationParameters.__dataclass_fields__
    parameters = {k: v for k, v in DEFAULT_PARAMETERS.items() if k in fields}
    data = generate_localization(
        LocalizationParameters(**{**parameters, "num_samples": 1500, "receiver_seed": 99}),
        lambda done: None,
    )
    rng = np.random.default_rng(5)
    for known in (True, False):
        inside_ellipse = inside_cep50 = 0
        for index in range(len(data["mask"])):
            rx = data["receivers"][index][data["mask"][index]].astype(float)
            xy = to_local_metres(rx[:, 0], rx[:, 1], 45.0, 8.5)
            truth = to_local_metres(*data["targets"][index], 45.0, 8.5)
            shift = 0.0 if known else rng.uniform(-10, 10)
            fix = L.wls_fix(xy, rx[:, 2] + shift, MODEL, 37.0 if known else None)
            u = L.uncertainty_from_covariance(fix.covariance, WLS_SCALES[known])
            error = fix.position - truth
            inside_cep50 += np.linalg.norm(error) <= u.cep50_m
            inside_ellipse += L.inside_ellipse(error, fix.covariance, WLS_SCALES[known])
        n = len(data["mask"])
        assert 0.90 <= inside_ellipse / n <= 0.98, (known, inside_ellipse / n)
        assert 0.45 <= inside_cep50 / n <= 0.55, (known, inside_cep50 / n)
