"""A fix from one transmission's measurements: the active model, or WLS with the reason why.

No database here: the caller resolves stations (position, calibration offset)
and stores the result. The numbers come from apps.radio.localization (WLS,
covariance, ellipse, gridded posterior) and apps.ml.localization (the served
ONNX model); docs/localization.md describes both and how their uncertainty
was calibrated.
"""

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from apps.core.exceptions import Conflict
from apps.ml.localization import (
    active_localization_model,
    active_problem,
    fix_problem,
    localization_model,
)
from apps.radio.localization import (
    CoverageScales,
    PosteriorGrid,
    Uncertainty,
    likelihood_grid,
    posterior_from_xy_grid,
    residuals_db,
    to_lat_lon,
    uncertainty_from_covariance,
    wls_fix,
)
from apps.radio.propagation import PropagationModel, gdop, mean_longitude, to_local_metres

# Coverage scales of the WLS fix's Fisher covariance, measured on 1,500 held-out samples of
# seed-default synthetic data (random receivers, 6 dB shadowing) after fitting on 1,500
# others; `tests/radio/test_localization.py` checks them on fresh data. Its errors are
# heavy-tailed next to the Cramér–Rao covariance, hence scales well above a Gaussian's.
WLS_SCALES = {
    True: CoverageScales(cep50=1.5477, cep95=5.6216, ellipse95=6.631),  # power known
    False: CoverageScales(cep50=1.1692, cep95=5.2129, ellipse95=6.0017),  # power estimated
}
RESIDUAL_WARNING_DB = 18.0  # three shadowing σ
# Beyond this distance of a receiver from the receivers' centre the local flat map
# (apps.radio.propagation.to_local_metres, ~0.1 % over 200 km) distorts distances by
# several per cent and more: the fix and its uncertainty are then approximate.
FLAT_MAP_LIMIT_M = 1_000_000.0
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Measurement:
    station_id: str
    latitude: float
    longitude: float
    reported_db: float  # as the station reported it
    offset_db: float  # its calibration offset at the time
    timestamp: str | None = None
    detection_id: str | None = None

    @property
    def calibrated_db(self) -> float:
        return self.reported_db - self.offset_db

    def as_dict(self) -> dict:
        return {
            "websdr_station_id": self.station_id,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "signal_strength_db": self.reported_db,
            "calibration_offset_db": self.offset_db,
            "timestamp": self.timestamp,
            "detection_id": self.detection_id,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Measurement":
        return cls(
            station_id=data["websdr_station_id"],
            latitude=data["latitude"],
            longitude=data["longitude"],
            reported_db=data["signal_strength_db"],
            offset_db=data["calibration_offset_db"],
            timestamp=data.get("timestamp"),
            detection_id=data.get("detection_id"),
        )


@dataclass
class Result:
    latitude: float
    longitude: float
    uncertainty: Uncertainty
    gdop: float | None
    method: str
    model_id: str | None
    model_version: str
    tx_power_dbm: float
    tx_power_estimated: bool
    residuals_db: dict[str, float]
    warnings: list[str] = field(default_factory=list)


def _frame(measurements: list[Measurement]):
    lat = np.array([m.latitude for m in measurements])
    lon = np.array([m.longitude for m in measurements])
    origin = (float(lat.mean()), mean_longitude(lon))
    return lat, lon, origin, to_local_metres(lat, lon, *origin)


@dataclass(frozen=True)
class Job:
    """One transmission to locate: its measurements, frequency, method and power if known."""

    measurements: list[Measurement]
    frequency_hz: int
    method: str = "auto"
    tx_power_dbm: float | None = None


def locate(measurements: list[Measurement], *, frequency_hz: int, method: str = "auto",
           tx_power_dbm: float | None = None) -> Result:  # fmt: skip
    """The fix. `method`: "auto" (the active model when it may serve, else WLS with the
    reason in `warnings`), "model" (Conflict when it may not), "wls"."""
    return locate_many([Job(measurements, frequency_hz, method, tx_power_dbm)])[0]


def locate_many(jobs: list[Job]) -> list[Result]:
    """Fixes for several transmissions; the model's share runs as one batch (automatic
    localization: tens of transmissions per task)."""
    served = None
    if any(job.method in ("auto", "model") for job in jobs):
        served = active_localization_model()
    frames, reasons = [], []
    for job in jobs:
        frame = _frame(job.measurements)
        frames.append(frame)
        reason = None
        if job.method in ("auto", "model"):
            reason = active_problem() if served is None else (
                served.scope_problem(frame[0], frame[1], job.frequency_hz))  # fmt: skip
            if reason and job.method == "model":
                raise Conflict(f"The localization model cannot serve this request: {reason}.",
                               {"field": "method", "constraint": reason})  # fmt: skip
        reasons.append(reason)
    by_model = [i for i, job in enumerate(jobs) if job.method != "wls" and not reasons[i]]
    model_fixes = {}
    if by_model:
        requests = [
            (frames[i][0], frames[i][1], [m.calibrated_db for m in jobs[i].measurements],
             jobs[i].frequency_hz, jobs[i].tx_power_dbm)
            for i in by_model
        ]  # fmt: skip
        # The model passed a test request when it loaded (apps.ml.localization.self_check);
        # should it still fail or give something unservable here, the request falls back
        # to WLS and says why (or is the 409 of method "model"), never a 500 or a lost fix.
        failure = None
        try:
            fixes = served.predict_many(requests)
        except Exception as exc:  # onnxruntime and numpy raise their own types
            logger.exception("localization model %s failed", served.model_id)
            failure = (
                f"it failed: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}"
            )
            fixes = [None] * len(by_model)
        for i, fix in zip(by_model, fixes, strict=True):
            problem = failure if fix is None else fix_problem(fix, len(served.grid_km))
            if problem is None:
                model_fixes[i] = fix
                continue
            reasons[i] = f"model {served.model_id} could not serve this request: {problem}"
            if jobs[i].method == "model":
                raise Conflict(f"The localization model cannot serve this request: {problem}.",
                               {"field": "method", "constraint": reasons[i]})  # fmt: skip
    return [
        _result(job, frames[i], reasons[i], served, model_fixes.get(i))
        for i, job in enumerate(jobs)
    ]


def _result(job: Job, frame, reason: str | None, served, model_fix) -> Result:
    _, _, origin, xy = frame
    measurements = job.measurements
    rss = np.array([m.calibrated_db for m in measurements])
    propagation = PropagationModel(frequency_mhz=job.frequency_hz / 1e6)
    warnings = [f"WLS used instead of the model: {reason}"] if reason else []
    span = float(np.linalg.norm(xy, axis=1).max()) if len(xy) else 0.0
    if span > FLAT_MAP_LIMIT_M:
        warnings.append(
            f"the receivers span {2 * span / 1000:,.0f} km: located on a local flat map "
            f"meant for up to {2 * FLAT_MAP_LIMIT_M / 1000:,.0f} km, so the position and "
            "its uncertainty are approximate"
        )
    if model_fix is not None:
        position = to_local_metres(model_fix.latitude, model_fix.longitude, *origin)
        latitude, longitude = model_fix.latitude, model_fix.longitude
        power, estimated = model_fix.tx_power_dbm, model_fix.tx_power_estimated
        covariance = model_fix.covariance_m2
        scales = served.scales_unknown_power if estimated else served.scales
        if not served.calibrated:
            warnings.append("this model's uncertainty is not calibrated (no validation scales)")
    else:
        fix = wls_fix(xy, rss, propagation, job.tx_power_dbm)
        position, covariance = fix.position, fix.covariance
        scales = WLS_SCALES[not fix.tx_power_estimated]
        power, estimated = fix.tx_power_dbm, fix.tx_power_estimated
        latitude, longitude = (float(v) for v in to_lat_lon(position, *origin))
    geometry = gdop(np.asarray(position, float), xy, propagation)
    if not math.isfinite(geometry):
        warnings.append("degenerate geometry: the receivers cannot separate positions (GDOP ∞)")
    residuals = residuals_db(position, xy, rss, power, propagation)
    for measurement, residual in zip(measurements, residuals, strict=True):
        if abs(residual) > RESIDUAL_WARNING_DB:
            warnings.append(
                f"{measurement.station_id} reads {residual:+.1f} dB off the fit: check its "
                "calibration offset or whether it heard this transmitter"
            )
    return Result(
        latitude=round(float(latitude), 6),
        longitude=round(float(longitude), 6),
        uncertainty=uncertainty_from_covariance(covariance, scales),
        gdop=round(float(geometry), 3) if math.isfinite(geometry) else None,
        method="model" if model_fix is not None else "wls",
        model_id=served.model_id if model_fix is not None else None,
        model_version=served.version if model_fix is not None else "",
        tx_power_dbm=round(float(power), 2),
        tx_power_estimated=estimated,
        residuals_db={m.station_id: round(float(r), 2) for m, r in zip(measurements, residuals,
                                                                         strict=True)},
        warnings=warnings,
    )  # fmt: skip


def posterior(measurements: list[Measurement], *, frequency_hz: int, method: str,
              model_id, tx_power_dbm: float | None, latitude: float, longitude: float,
              semi_major_m: float) -> PosteriorGrid | None:  # fmt: skip
    """The gridded posterior of a stored fix, redrawn from its measurements: the model's
    own posterior (None if that model is gone), or for WLS the likelihood under the
    propagation model on a 64 × 64 grid reaching three 95 % semi-major axes around the fix."""
    lat, lon, origin, xy = _frame(measurements)
    rss = np.array([m.calibrated_db for m in measurements])
    if method == "model":
        served = localization_model(model_id) if model_id else None
        if served is None:
            return None
        try:
            fix = served.predict(lat, lon, rss, frequency_hz, tx_power_dbm)
        except Exception:  # as locate_many: the model's fault, not the reader's
            logger.exception("localization model %s failed to redraw a posterior", model_id)
            return None
        return fix.posterior if fix_problem(fix, len(served.grid_km)) is None else None
    propagation = PropagationModel(frequency_mhz=frequency_hz / 1e6)
    centre = to_local_metres(latitude, longitude, *origin)
    xs, ys, weights = likelihood_grid(
        xy, rss, propagation, centre=centre, half_width_m=max(3 * semi_major_m, 2000.0),
        tx_power_dbm=tx_power_dbm,
    )  # fmt: skip
    return posterior_from_xy_grid(weights, xs, ys, *origin)
