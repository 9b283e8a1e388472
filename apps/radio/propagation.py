"""Radio propagation for synthetic localization data (numpy).

Model (docs/training.md has the derivation):

* Path loss, log-distance with a free-space reference at d0 = 1 km:
      PL(d) = FSPL(d0, f) + 10 n log10(d / d0) + X,   X ~ N(0, sigma_shadow²) dB
      FSPL(d0, f) = 20 log10(d0_km) + 20 log10(f_MHz) + 32.44
* Received power  P_r = P_tx − PL(d)
* Receiver noise  N = −174 dBm/Hz + 10 log10(B) + NF
* A receiver hears the transmitter when P_r − N ≥ min SNR.

Localization geometry from the same model: the RSS measurement of receiver i,
z_i = P_tx − FSPL − 10 n log10(d_i) + X_i, has the gradient
∇_p z_i = −(10 n / ln 10) (p − r_i) / d_i², so the Fisher information of the
position is J = Σ g_i g_iᵀ / σ², and the Cramér–Rao bound on the position
error is sqrt(trace(J⁻¹)) metres. GDOP divides that bound by the range error
the shadowing implies at the mean receiver distance d̄,
σ_d = d̄ σ ln 10 / (10 n): dimensionless, and equal to the ranging GDOP when
the receivers are equidistant (four in a square around the target: 1).
"""

import math
from dataclasses import dataclass

import numpy as np

EARTH_RADIUS_M = 6_371_000.0
THERMAL_NOISE_DBM_HZ = -174.0


@dataclass(frozen=True)
class PropagationModel:
    frequency_mhz: float = 145.0
    path_loss_exponent: float = 2.8  # suburban/rural VHF
    shadowing_db: float = 6.0
    bandwidth_hz: float = 12_500.0
    noise_figure_db: float = 6.0
    reference_km: float = 1.0

    @property
    def noise_floor_dbm(self) -> float:
        return THERMAL_NOISE_DBM_HZ + 10 * math.log10(self.bandwidth_hz) + self.noise_figure_db

    def fspl_reference_db(self) -> float:
        return 20 * math.log10(self.reference_km) + 20 * math.log10(self.frequency_mhz) + 32.44

    def mean_path_loss_db(self, distance_m: np.ndarray) -> np.ndarray:
        distance_km = np.maximum(np.asarray(distance_m, dtype=float), 1.0) / 1000.0
        return self.fspl_reference_db() + 10 * self.path_loss_exponent * np.log10(
            distance_km / self.reference_km
        )

    def received_power_dbm(self, tx_power_dbm: float, distance_m: np.ndarray, rng=None):
        """Mean received power, plus log-normal shadowing when `rng` is given."""
        power = tx_power_dbm - self.mean_path_loss_db(distance_m)
        if rng is not None:
            power = power + rng.normal(0.0, self.shadowing_db, size=np.shape(power))
        return power


def to_local_metres(lat, lon, lat0: float, lon0: float) -> np.ndarray:
    """Equirectangular projection around (lat0, lon0): good to ~0.1 % over 200 km.

    Longitude differences are taken the short way round (179.9° and −179.9° are 0.2°
    apart), so receivers across the antimeridian stay neighbours."""
    lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    east = (lon - lon0 + 180.0) % 360.0 - 180.0
    x = np.radians(east) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
    y = np.radians(lat - lat0) * EARTH_RADIUS_M
    return np.stack([x, y], axis=-1)


def mean_longitude(lon) -> float:
    """The circular mean of longitudes (degrees, in [-180, 180)): 179° and −179° give 180°,
    not 0° as their arithmetic mean would."""
    radians = np.radians(np.asarray(lon, dtype=float))
    mean = math.degrees(math.atan2(float(np.sin(radians).mean()), float(np.cos(radians).mean())))
    return (mean + 180.0) % 360.0 - 180.0


def fisher_information(position: np.ndarray, receivers: np.ndarray, model: PropagationModel):
    """J (2×2) of the position from RSS at `receivers` (local metres)."""
    delta = position[None, :] - receivers
    d2 = np.maximum((delta**2).sum(axis=1), 1.0)
    gradients = -(10 * model.path_loss_exponent / math.log(10)) * delta / d2[:, None]
    return gradients.T @ gradients / model.shadowing_db**2


def crb_metres(position: np.ndarray, receivers: np.ndarray, model: PropagationModel) -> float:
    """Cramér–Rao bound on the RMS position error (m); inf for a degenerate geometry."""
    information = fisher_information(position, receivers, model)
    if np.linalg.cond(information) > 1e12:
        return math.inf
    return float(math.sqrt(np.trace(np.linalg.inv(information))))


def gdop(position: np.ndarray, receivers: np.ndarray, model: PropagationModel) -> float:
    mean_distance = max(float(np.linalg.norm(receivers - position, axis=1).mean()), 1.0)
    range_error = (
        mean_distance * model.shadowing_db * math.log(10) / (10 * model.path_loss_exponent)
    )
    return crb_metres(position, receivers, model) / range_error


def wls_localize(
    receivers: np.ndarray,
    rss_dbm: np.ndarray,
    tx_power_dbm: float,
    model: PropagationModel,
    iterations: int = 30,
) -> np.ndarray:
    """Weighted-least-squares multilateration from RSS (the classical baseline).

    Ranges from the inverted path-loss model, d_i = d0 · 10^((P_tx − P_r,i − FSPL0) / 10n);
    Gauss–Newton on Σ w_i (‖p − r_i‖ − d_i)², weights 1/d_i² (a range estimated from
    RSS has an error proportional to the range itself). Starts at the
    RSS-weighted centroid of the receivers.
    """
    ranges = (
        model.reference_km
        * 1000.0
        * 10
        ** ((tx_power_dbm - rss_dbm - model.fspl_reference_db()) / (10 * model.path_loss_exponent))
    )
    weights = 1.0 / np.maximum(ranges, 1.0) ** 2
    linear = 10 ** (rss_dbm / 10)
    estimate = (receivers * linear[:, None]).sum(axis=0) / linear.sum()
    for _ in range(iterations):
        delta = estimate[None, :] - receivers
        distances = np.maximum(np.linalg.norm(delta, axis=1), 1.0)
        jacobian = delta / distances[:, None]
        residual = distances - ranges
        normal = jacobian.T @ (weights[:, None] * jacobian)
        if np.linalg.cond(normal) > 1e12:
            break
        step = np.linalg.solve(normal, jacobian.T @ (weights * residual))
        estimate = estimate - step
        if np.linalg.norm(step) < 0.01:
            break
    return estimate
