"""Locating a transmitter from received signal strengths: WLS, uncertainty, calibration (numpy).

The propagation model is apps.radio.propagation's (docs/localization.md): a
receiver i at distance d_i hears z_i = P − FSPL(d0, f) − 10 n log10(d_i / d0) + o_i + X_i
dBm, with P the transmitter power, o_i the station's calibration offset (what it
reads above the truth; subtracted before anything here sees z) and X_i ~ N(0, σ²)
log-normal shadowing.

* `wls_fix` — the weighted-least-squares fix: ranges from the inverted mean
  path loss, Gauss–Newton on the relative range errors (`propagation.wls_localize`
  when the power is known); with the power unknown it is estimated jointly
  (a third unknown, with a weak prior so that three receivers stay solvable).
* `fisher_covariance` — the position covariance from the Fisher information at
  the fix (the Cramér–Rao bound's matrix; with the power unknown, the position
  block of the 3×3 inverse).
* `Uncertainty` / `uncertainty_from_covariance` — CEP50, CEP95 and the 95 %
  ellipse from a covariance and *calibration scales* measured on simulated
  validation data (`coverage_scales`): an estimator's errors are not exactly
  Gaussian, so the radius that holds 50 % or 95 % of them is measured, not assumed.
* `likelihood_grid` — the posterior over a grid of positions under the
  propagation model (flat prior; with the power unknown it is profiled out, which for a
  flat prior on P is the marginal up to a constant).
* `estimate_offsets` — per-station calibration offsets from transmissions of
  reference transmitters of known position (linear least squares; each
  reference's power known or estimated jointly).
"""

import math
from dataclasses import dataclass, replace

import numpy as np

from apps.radio.propagation import EARTH_RADIUS_M, PropagationModel, to_local_metres

# A weak prior on an unknown transmitter power (dBm): centre and standard deviation.
# Three receivers and three unknowns (x, y, P) would otherwise fit exactly along a
# whole curve of positions; with four or more the data dominate.
POWER_PRIOR_DBM = (37.0, 10.0)
CHI2_2_Q50 = math.sqrt(-2 * math.log(0.5))  # 1.1774: CEP50 of a circular Gaussian, in σ
CHI2_2_Q95 = math.sqrt(-2 * math.log(0.05))  # 2.4477: its 95 % radius, in σ


def to_lat_lon(xy_m: np.ndarray, lat0: float, lon0: float) -> np.ndarray:
    """Inverse of propagation.to_local_metres: local metres [..., 2] → (lat, lon) [..., 2],
    on the globe: latitude clipped to [-90, 90], longitude wrapped into [-180, 180)."""
    xy = np.asarray(xy_m, dtype=float)
    lat = np.clip(lat0 + np.degrees(xy[..., 1] / EARTH_RADIUS_M), -90.0, 90.0)
    # Near a pole cos(lat0) → 0: bound the scale so that a point stays a finite longitude.
    scale = EARTH_RADIUS_M * max(math.cos(math.radians(lat0)), 1e-6)
    lon = (lon0 + np.degrees(xy[..., 0] / scale) + 180.0) % 360.0 - 180.0
    return np.stack([lat, lon], axis=-1)


def _relative_range_sigma(model: PropagationModel) -> float:
    """The relative range error σ_d / d that σ dB of shadowing implies: σ ln 10 / (10 n)."""
    return model.shadowing_db * math.log(10) / (10 * model.path_loss_exponent)


def ranges_m(rss_dbm: np.ndarray, tx_power_dbm: float, model: PropagationModel) -> np.ndarray:
    """Distances at which the mean path loss gives `rss_dbm` from `tx_power_dbm`."""
    exponent = (tx_power_dbm - np.asarray(rss_dbm, float) - model.fspl_reference_db()) / (
        10 * model.path_loss_exponent
    )
    return model.reference_km * 1000.0 * 10**exponent


def predicted_rss_dbm(position, receivers, tx_power_dbm: float, model: PropagationModel):
    """Mean received power at each receiver (local metres) from a transmitter at `position`."""
    distances = np.linalg.norm(np.asarray(receivers) - np.asarray(position), axis=-1)
    return model.received_power_dbm(tx_power_dbm, distances)


def _centroid(receivers: np.ndarray, rss_dbm: np.ndarray) -> np.ndarray:
    linear = 10 ** ((rss_dbm - rss_dbm.max()) / 10)
    return (receivers * linear[:, None]).sum(axis=0) / linear.sum()


def _wls_unknown_power(receivers, rss_dbm, model, prior, iterations=40):
    """Gauss–Newton on (x, y, P): relative range errors (‖p − rᵢ‖ − d̂ᵢ(P)) / d̂ᵢ(P), each
    scaled by the relative range σ, plus the prior's (P − P₀) / σ_P."""
    s = _relative_range_sigma(model)
    slope = math.log(10) / (10 * model.path_loss_exponent)  # d ln d̂ / dP
    unit = ranges_m(rss_dbm, 0.0, model)  # d̂ᵢ(P) = unitᵢ · e^(slope P)
    position = _centroid(receivers, rss_dbm)
    distances = np.maximum(np.linalg.norm(receivers - position, axis=1), 1.0)
    # Start P where the ranges best match the centroid's distances, pulled to the prior.
    power = float(np.clip(np.mean(np.log(distances / unit)) / slope, prior[0] - 30, prior[0] + 30))
    for _ in range(iterations):
        expected = unit * math.exp(slope * power)
        delta = position[None, :] - receivers
        distances = np.maximum(np.linalg.norm(delta, axis=1), 1.0)
        residual = np.append((distances / expected - 1) / s, (power - prior[0]) / prior[1])
        jacobian = np.zeros((len(residual), 3))
        jacobian[:-1, :2] = delta / (distances * expected)[:, None] / s
        jacobian[:-1, 2] = -distances / expected * slope / s
        jacobian[-1, 2] = 1 / prior[1]
        normal = jacobian.T @ jacobian
        if np.linalg.cond(normal) > 1e12:
            break
        step = np.linalg.solve(normal, jacobian.T @ residual)
        # Never jump by more than the current distance scale (keeps Gauss–Newton stable).
        limit = max(float(np.median(distances)), 1000.0)
        norm = float(np.linalg.norm(step[:2]))
        if norm > limit:
            step = step * (limit / norm)
        position, power = position - step[:2], power - float(step[2])
        if norm < 0.5 and abs(step[2]) < 1e-3:
            break
    return position, power


def fisher_covariance(
    position: np.ndarray,
    receivers: np.ndarray,
    model: PropagationModel,
    *,
    power_known: bool,
    prior_sigma_db: float = POWER_PRIOR_DBM[1],
) -> np.ndarray:
    """Position covariance (m², 2×2) from the Fisher information of the RSS measurements at
    `position`: J = Σ gᵢ gᵢᵀ / σ² with gᵢ = ∂zᵢ/∂(x, y[, P]) (docs/training.md, propagation.py);
    with the power unknown, P is a third parameter (∂zᵢ/∂P = 1, plus the prior 1/σ_P²) and
    the position block of J⁻¹ is returned. A degenerate geometry gives a huge, finite one."""
    delta = position[None, :] - receivers
    d2 = np.maximum((delta**2).sum(axis=1), 1.0)
    gradients = -(10 * model.path_loss_exponent / math.log(10)) * delta / d2[:, None]
    if not power_known:
        gradients = np.column_stack([gradients, np.ones(len(receivers))])
    information = gradients.T @ gradients / model.shadowing_db**2
    if not power_known:
        information[2, 2] += 1 / prior_sigma_db**2
    information += np.eye(len(information)) * 1e-18  # a degenerate geometry stays invertible
    covariance = np.linalg.inv(information)[:2, :2]
    return (covariance + covariance.T) / 2


@dataclass(frozen=True)
class Fix:
    """A position (local metres) with its covariance, the power used and per-receiver residuals."""

    position: np.ndarray  # [2] m
    covariance: np.ndarray  # [2, 2] m²
    tx_power_dbm: float
    tx_power_estimated: bool
    residuals_db: np.ndarray  # [K] measured − predicted at the fix


def residuals_db(position, receivers, rss_dbm, tx_power_dbm, model) -> np.ndarray:
    return np.asarray(rss_dbm, float) - predicted_rss_dbm(position, receivers, tx_power_dbm, model)


def power_at(position, receivers, rss_dbm, model, prior=POWER_PRIOR_DBM) -> float:
    """The transmitter power that best explains `rss_dbm` from `position` (the mean of
    zᵢ + PL(dᵢ), shrunk towards the prior by its weight)."""
    distances = np.linalg.norm(np.asarray(receivers) - np.asarray(position), axis=-1)
    implied = np.asarray(rss_dbm, float) + model.mean_path_loss_db(distances)
    weight = len(implied) / model.shadowing_db**2
    prior_weight = 1 / prior[1] ** 2
    return float((implied.sum() / model.shadowing_db**2 + prior[0] * prior_weight) /
                 (weight + prior_weight))  # fmt: skip


def wls_fix(
    receivers: np.ndarray,
    rss_dbm: np.ndarray,
    model: PropagationModel,
    tx_power_dbm: float | None = None,
    prior=POWER_PRIOR_DBM,
) -> Fix:
    """The WLS fix from receivers (local metres [K, 2]) and calibrated strengths (dBm [K]).

    Known power: propagation.wls_localize (the documented baseline). Unknown power:
    estimated jointly with the position (see _wls_unknown_power)."""
    from apps.radio.propagation import wls_localize

    receivers, rss_dbm = np.asarray(receivers, float), np.asarray(rss_dbm, float)
    if tx_power_dbm is not None:
        position = wls_localize(receivers, rss_dbm, tx_power_dbm, model)
        power, estimated = float(tx_power_dbm), False
    else:
        position, power = _wls_unknown_power(receivers, rss_dbm, model, prior)
        estimated = True
    covariance = fisher_covariance(position, receivers, model, power_known=not estimated,
                                   prior_sigma_db=prior[1])  # fmt: skip
    return Fix(
        position=position,
        covariance=covariance,
        tx_power_dbm=power,
        tx_power_estimated=estimated,
        residuals_db=residuals_db(position, receivers, rss_dbm, power, model),
    )


# --- uncertainty ------------------------------------------------------------------------


@dataclass(frozen=True)
class CoverageScales:
    """Multipliers that turn a covariance into regions holding 50 % / 95 % of true positions.

    `cep50` and `cep95` scale the covariance's RMS axis sqrt(trace / 2) into circle radii;
    `ellipse95` scales its Mahalanobis unit ellipse. For a circular Gaussian they are
    1.1774, 2.4477 and 2.4477 (CHI2_2_Q50, CHI2_2_Q95); measured values replace them."""

    cep50: float = CHI2_2_Q50
    cep95: float = CHI2_2_Q95
    ellipse95: float = CHI2_2_Q95

    def as_dict(self) -> dict:
        return {"cep50": self.cep50, "cep95": self.cep95, "ellipse95": self.ellipse95}

    @classmethod
    def from_dict(cls, data: dict | None) -> "CoverageScales":
        if not data:
            return cls()
        return cls(float(data["cep50"]), float(data["cep95"]), float(data["ellipse95"]))


def _rms_axis(covariance: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(np.trace(covariance, axis1=-2, axis2=-1) / 2, 1e-12))


def mahalanobis(errors: np.ndarray, covariances: np.ndarray) -> np.ndarray:
    """sqrt(eᵀ Σ⁻¹ e) per row: errors [N, 2] m, covariances [N, 2, 2] m²."""
    solved = np.linalg.solve(covariances, errors[..., None])[..., 0]
    return np.sqrt(np.maximum((errors * solved).sum(-1), 0.0))


def coverage_scales(errors: np.ndarray, covariances: np.ndarray) -> CoverageScales:
    """Calibration from validation data: errors (estimate − truth) [N, 2] m and the
    estimator's covariances [N, 2, 2] m². The 50th / 95th percentiles of the radial error
    over the RMS axis, and the 95th of the Mahalanobis distance."""
    errors, covariances = np.asarray(errors, float), np.asarray(covariances, float)
    radial = np.linalg.norm(errors, axis=-1) / _rms_axis(covariances)
    distance = mahalanobis(errors, covariances)
    return CoverageScales(
        cep50=round(float(np.quantile(radial, 0.5)), 4),
        cep95=round(float(np.quantile(radial, 0.95)), 4),
        ellipse95=round(float(np.quantile(distance, 0.95)), 4),
    )


@dataclass(frozen=True)
class Uncertainty:
    cep50_m: float
    cep95_m: float
    semi_major_m: float
    semi_minor_m: float
    orientation_deg: float  # of the major axis, clockwise from north, in [0, 180)

    def as_dict(self) -> dict:
        return {
            "cep50_m": round(self.cep50_m, 1),
            "cep95_m": round(self.cep95_m, 1),
            "ellipse": {
                "semi_major_m": round(self.semi_major_m, 1),
                "semi_minor_m": round(self.semi_minor_m, 1),
                "orientation_deg": round(self.orientation_deg, 1),
            },
        }


def uncertainty_from_covariance(covariance: np.ndarray, scales: CoverageScales) -> Uncertainty:
    """CEP50, CEP95 and the 95 % ellipse of a covariance (m², x east, y north)."""
    covariance = np.asarray(covariance, float)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending
    major = eigenvectors[:, 1]
    # Bearing of the major axis from north (y), clockwise towards east (x); an axis, so mod 180.
    orientation = math.degrees(math.atan2(major[0], major[1])) % 180.0
    rms = float(_rms_axis(covariance))
    return Uncertainty(
        cep50_m=scales.cep50 * rms,
        cep95_m=scales.cep95 * rms,
        semi_major_m=scales.ellipse95 * math.sqrt(max(eigenvalues[1], 0.0)),
        semi_minor_m=scales.ellipse95 * math.sqrt(max(eigenvalues[0], 0.0)),
        orientation_deg=orientation,
    )


def inside_ellipse(error: np.ndarray, covariance: np.ndarray, scales: CoverageScales) -> bool:
    return float(mahalanobis(np.asarray(error)[None], np.asarray(covariance)[None])[0]) <= (
        scales.ellipse95
    )


def posterior_covariance(weights: np.ndarray, grid: np.ndarray, position: np.ndarray):
    """Second moments of a gridded posterior about `position`: weights [..., G] (summing to
    1), grid [G, 2], position [..., 2] → [..., 2, 2], plus a cell's own spread (spacing²/12)."""
    offsets = grid - np.asarray(position)[..., None, :]  # [..., G, 2]
    covariance = np.einsum("...g,...gi,...gj->...ij", weights, offsets, offsets)
    spacing = grid_spacing(grid)
    return covariance + np.diag(spacing**2 / 12)


def grid_spacing(grid: np.ndarray) -> np.ndarray:
    """Cell size (x, y) of a regular grid given as its points [G, 2]."""
    steps = []
    for axis in range(2):
        values = np.unique(grid[:, axis])
        steps.append(float(values[1] - values[0]) if len(values) > 1 else 1.0)
    return np.array(steps)


# --- gridded posterior under the propagation model ----------------------------------------


@dataclass(frozen=True)
class PosteriorGrid:
    """Probabilities over cells of a lat/lon grid, for heat maps.

    `bounds` [[south, west], [north, east]] are the outer cell edges in degrees;
    `probabilities` [rows, cols] run north to south (row 0 is the northernmost), west to
    east, and sum to 1."""

    bounds: tuple[tuple[float, float], tuple[float, float]]
    probabilities: np.ndarray

    def as_dict(self) -> dict:
        rows, cols = self.probabilities.shape
        return {
            "bounds": [list(self.bounds[0]), list(self.bounds[1])],
            "shape": [rows, cols],
            "probabilities": self.probabilities.reshape(-1).tolist(),
        }


def posterior_from_xy_grid(weights: np.ndarray, xs: np.ndarray, ys: np.ndarray,
                           lat0: float, lon0: float) -> PosteriorGrid:  # fmt: skip
    """A posterior over cell centres xs (east, m) × ys (north, m), weights [len(xs), len(ys)]
    (ij indexing), as a north-up lat/lon PosteriorGrid normalised to sum 1."""
    weights = np.asarray(weights, dtype=float)
    weights = np.clip(weights, 0.0, None)
    weights = weights / weights.sum()
    dx = float(xs[1] - xs[0]) if len(xs) > 1 else 1.0
    dy = float(ys[1] - ys[0]) if len(ys) > 1 else 1.0
    south_west = to_lat_lon(np.array([xs[0] - dx / 2, ys[0] - dy / 2]), lat0, lon0)
    north_east = to_lat_lon(np.array([xs[-1] + dx / 2, ys[-1] + dy / 2]), lat0, lon0)
    rows = weights.T[::-1]  # [ys, xs], north first
    # West is on the globe, [-180, 180); east follows it continuously (it may pass 180° for
    # a grid across the antimeridian, as a continuous-world map such as Leaflet draws it),
    # and a grid wider than the globe is one globe wide.
    width = float(xs[-1] - xs[0] + dx)
    scale = EARTH_RADIUS_M * max(math.cos(math.radians(lat0)), 1e-6)
    west = float(south_west[1])
    east = west + min(math.degrees(width / scale), 360.0)
    bounds = (
        (round(float(south_west[0]), 6), round(west, 6)),
        (round(float(north_east[0]), 6), round(east, 6)),
    )
    return PosteriorGrid(bounds=bounds, probabilities=rows / rows.sum())


def likelihood_grid(
    receivers: np.ndarray,
    rss_dbm: np.ndarray,
    model: PropagationModel,
    *,
    centre: np.ndarray,
    half_width_m: float,
    cells: int = 64,
    tx_power_dbm: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xs, ys, weights [cells, cells]) of the posterior over a square grid of half width
    `half_width_m` around `centre` (local metres), flat prior. Log-likelihood per cell:
    −Σ (zᵢ − P + PL(dᵢ))² / 2σ²; with P unknown, P at each cell is the mean implied power
    (the profile, equal to the marginal for a flat prior on P up to a constant)."""
    xs = centre[0] + np.linspace(-half_width_m, half_width_m, cells)
    ys = centre[1] + np.linspace(-half_width_m, half_width_m, cells)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    points = np.stack([gx.ravel(), gy.ravel()], -1)  # [G, 2]
    distances = np.linalg.norm(points[:, None, :] - receivers[None], axis=-1)  # [G, K]
    implied = np.asarray(rss_dbm, float)[None] + model.mean_path_loss_db(distances)  # P per rx
    power = implied.mean(axis=1, keepdims=True) if tx_power_dbm is None else tx_power_dbm
    log_likelihood = -((implied - power) ** 2).sum(axis=1) / (2 * model.shadowing_db**2)
    weights = np.exp(log_likelihood - log_likelihood.max()).reshape(cells, cells)
    return xs, ys, weights / weights.sum()


# --- calibration offsets ----------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceObservation:
    """One transmission of a reference transmitter: where it is, its power if known, and
    each station's reported strength (dBm as the station reads it, before calibration)."""

    position: np.ndarray  # local metres [2]
    tx_power_dbm: float | None
    stations: tuple[str, ...]
    receivers: np.ndarray  # local metres [K, 2]
    reported_dbm: np.ndarray  # [K]
    frequency_mhz: float = 145.0


@dataclass(frozen=True)
class OffsetEstimate:
    offset_db: float
    standard_error_db: float
    observations: int


def estimate_offsets(
    observations: list[ReferenceObservation], model: PropagationModel | None = None
) -> dict[str, OffsetEstimate]:
    """Per-station calibration offsets oₛ (dB a station reads above the truth) by least
    squares over every reference transmission t heard by station s:

        z_ts = P_t − PL(d_ts) + o_s + X_ts

    P_t is fixed where the reference's power is known and a free unknown otherwise. When
    no observation has a known power the offsets are defined only up to a common constant
    (a station reading 3 dB high and a transmitter 3 dB weaker look the same): the
    estimate is then the one with mean offset zero. Standard errors from σ_shadowing and
    the design matrix. `model` gives the path-loss exponent and shadowing; each
    observation its own frequency."""
    model = model or PropagationModel()
    stations = sorted({s for o in observations for s in o.stations})
    column = {s: i for i, s in enumerate(stations)}
    size = len(stations)
    # Normal equations in the offsets alone: a transmission's unknown power is profiled
    # out (its rows centred on their mean), which is the same least squares as carrying
    # one power column per transmission — but a station × station system whatever the
    # number of transmissions (with a column each, 3,000 of them took 20 s and 1.6 GB,
    # growing as the cube and the square).
    normal = np.zeros((size, size))
    moment = np.zeros(size)
    counts = np.zeros(size, dtype=int)
    any_known = False
    for observation in observations:
        distances = np.linalg.norm(observation.receivers - observation.position, axis=1)
        path_loss = replace(model, frequency_mhz=observation.frequency_mhz).mean_path_loss_db(
            distances
        )
        index = np.array([column[s] for s in observation.stations])
        target = np.asarray(observation.reported_dbm, float) + np.asarray(path_loss, float)
        block = np.zeros((len(index), size))
        block[np.arange(len(index)), index] = 1.0
        if observation.tx_power_dbm is None:
            block -= block.mean(axis=0, keepdims=True)
            target = target - target.mean()
        else:
            target = target - observation.tx_power_dbm
            any_known = True
        normal += block.T @ block
        moment += block.T @ target
        counts[np.unique(index)] += 1
    if not any_known:  # gauge: mean offset zero
        gauge = np.ones(size) * 1e3
        normal += np.outer(gauge, gauge)
    solution = np.linalg.pinv(normal) @ moment
    covariance = np.linalg.pinv(normal / model.shadowing_db**2)
    return {
        station: OffsetEstimate(
            offset_db=float(solution[i]),
            standard_error_db=float(math.sqrt(max(covariance[i, i], 0.0))),
            observations=int(counts[i]),
        )
        for station, i in column.items()
    }


__all__ = [
    "CoverageScales",
    "Fix",
    "OffsetEstimate",
    "PosteriorGrid",
    "ReferenceObservation",
    "Uncertainty",
    "coverage_scales",
    "estimate_offsets",
    "fisher_covariance",
    "likelihood_grid",
    "posterior_covariance",
    "posterior_from_xy_grid",
    "to_lat_lon",
    "to_local_metres",
    "uncertainty_from_covariance",
    "wls_fix",
]
