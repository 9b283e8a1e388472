"""The served localization model: the active model's ONNX export, run with onnxruntime.

A bundle (apps/training/localization.py, or the shipped default) holds
`model.onnx` — inputs `receivers [B, K, 4]` (x km, y km, RSS dBm, SNR dB,
standardised) and `mask [B, K]`; outputs `output [B, 3]` (x km, y km, log σ
km in the model's local frame) and, for evidence-map models, `posterior
[B, cells²]` over its grid — and `normalisation.json` (feature statistics,
origin, grid, what the model was trained for, uncertainty calibration).

Torch is never imported here: web processes serve models through onnxruntime.
The deployed model is reloaded within a second of an activation
(apps.ml.active), like the anomaly scorer.
"""

import json
import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from apps.ml import bundles
from apps.ml.active import ActiveModel
from apps.ml.models import MLModel
from apps.radio.localization import (
    CoverageScales,
    PosteriorGrid,
    posterior_covariance,
    posterior_from_xy_grid,
    power_at,
    to_lat_lon,
)
from apps.radio.propagation import PropagationModel, mean_longitude, to_local_metres

logger = logging.getLogger(__name__)
# With the power unknown, the model is run at the trained power, the power that best
# explains the strengths from its fix is estimated, and the model run again with it. One
# round is best: on 400 held-out demo-network scenarios (power 37 ± 10 dBm) the median
# error was 41.1 km with none, 37.3 km with one, 38.4 / 39.5 / 40.4 km with 2 / 3 / 5 (each
# round re-fits the power to the model's own fix) — and each round is a model run.
POWER_ITERATIONS = 1


# Receivers closer together than this (several receivers on one mast or roof) are not a
# geometry any localization model was trained on: random receivers over an area.
MIN_SPREAD_M = 100.0


def _spread_m(latitudes, longitudes) -> float:
    """The largest distance (m) of a receiver from the receivers' centre."""
    lat = np.asarray(latitudes, dtype=float)
    lon = np.asarray(longitudes, dtype=float)
    if lat.size == 0:
        return 0.0
    xy = to_local_metres(lat, lon, float(lat.mean()), mean_longitude(lon))
    return float(np.linalg.norm(xy - xy.mean(axis=0), axis=1).max())


@dataclass(frozen=True)
class ModelFix:
    latitude: float
    longitude: float
    covariance_m2: np.ndarray  # [2, 2], east/north
    tx_power_dbm: float
    tx_power_estimated: bool
    weights: np.ndarray  # the posterior over the model's grid (ij order)
    model: "LocalizationModel"

    @property
    def posterior(self) -> PosteriorGrid:
        """The posterior as a north-up lat/lon grid (built on demand: heat maps only)."""
        return self.model.posterior_grid(self.weights)


class LocalizationModel:
    """One loaded bundle. `scope_problem` says why a request is outside what the model was
    trained for (None when inside); `predict` localizes."""

    def __init__(self, onnx: bytes, normalisation: dict, *, model_id: str = "", name: str = "",
                 version: str = ""):  # fmt: skip
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # one request is tiny: threads cost more than they give
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            onnx, options, providers=["CPUExecutionProvider"]
        )
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.model_id, self.name, self.version = model_id, name, version
        self.mean = np.asarray(normalisation["mean"], dtype=np.float64)
        self.std = np.asarray(normalisation["std"], dtype=np.float64)
        self.origin = tuple(normalisation["origin_lat_lon"])
        self.trained_for = normalisation.get("trained_for") or {}
        # Coverage scales measured on validation data (apps/training/localization.py:
        # calibrate_export), for a given and for an estimated transmitter power.
        self.scales = CoverageScales.from_dict(normalisation.get("uncertainty"))
        self.scales_unknown_power = CoverageScales.from_dict(
            normalisation.get("uncertainty_unknown_power") or normalisation.get("uncertainty")
        )
        self.calibrated = "uncertainty" in normalisation
        grid = normalisation.get("grid")
        if grid:
            cells, (hx, hy) = grid["cells"], grid["half_extent_km"]
            self.xs_km = np.linspace(-hx, hx, cells)
            self.ys_km = np.linspace(-hy, hy, cells)
        else:  # an older bundle without a grid: a Gaussian over the trained area
            self.xs_km = self.ys_km = np.linspace(-120.0, 120.0, 48)
        gx, gy = np.meshgrid(self.xs_km, self.ys_km, indexing="ij")
        self.grid_km = np.stack([gx.ravel(), gy.ravel()], -1)
        self.training_power = float(self.trained_for.get("tx_power_dbm", 37.0))
        self.training_frequency = float(self.trained_for.get("training_frequency_hz", 145e6))
        self.propagation = PropagationModel(frequency_mhz=self.training_frequency / 1e6)
        self.noise_floor = float(
            self.trained_for.get("noise_floor_dbm", self.propagation.noise_floor_dbm)
        )

    # --- scope ------------------------------------------------------------------------

    def scope_problem(self, latitudes, longitudes, frequency_hz: int) -> str | None:
        """Why the model should not serve this request, or None. Receivers outside the
        trained area, a receiver count outside the trained range, receivers all within
        MIN_SPREAD_M of their centre (one mast), a frequency outside the trained band."""
        count = len(latitudes)
        low, high = self.trained_for.get("receivers", [3, 10_000])
        if count < max(low, 3):
            return f"{count} receivers; the model was trained for {low}–{high}"
        if count > high:
            return f"{count} receivers; the model was trained for {low}–{high}"
        spread = _spread_m(latitudes, longitudes)
        if spread < MIN_SPREAD_M:
            return (
                f"the receivers are within {spread:.0f} m of each other: the model was "
                "trained on receivers spread over an area (receivers at one place tell a "
                "distance, not a direction)"
            )
        band = self.trained_for.get("frequency_hz")
        if band and not band[0] <= frequency_hz <= band[1]:
            return (
                f"{frequency_hz} Hz is outside the model's band {band[0]}–{band[1]} Hz "
                f"(trained at {int(self.training_frequency)} Hz)"
            )
        area = self.trained_for.get("area")
        if area:
            for lat, lon in zip(latitudes, longitudes, strict=True):
                if not (area["area_lat_min"] <= lat <= area["area_lat_max"]
                        and area["area_lon_min"] <= lon <= area["area_lon_max"]):  # fmt: skip
                    return (
                        f"a receiver at {lat:.4f}, {lon:.4f} is outside the model's area "
                        f"{area['area_lat_min']}–{area['area_lat_max']} °N, "
                        f"{area['area_lon_min']}–{area['area_lon_max']} °E"
                    )
        return None

    # --- inference --------------------------------------------------------------------

    def _run(self, xy_km: np.ndarray, rss: np.ndarray, mask: np.ndarray):
        """Model outputs for a padded batch: xy_km [B, K, 2], rss [B, K] (as read from a
        transmitter of the training power at the training frequency), mask [B, K]."""
        raw = np.concatenate([xy_km, rss[..., None], (rss - self.noise_floor)[..., None]], -1)
        features = np.where(mask[..., None], (raw - self.mean) / self.std, 0.0)
        results = self.session.run(None, {"receivers": features.astype(np.float32), "mask": mask})
        output = results[0].astype(np.float64)
        posterior = (
            results[self.output_names.index("posterior")].astype(np.float64)
            if "posterior" in self.output_names
            else None
        )
        return output, posterior

    def predict(self, latitudes, longitudes, rss_dbm, frequency_hz: int,
                tx_power_dbm: float | None = None) -> "ModelFix":  # fmt: skip
        """One fix: predict_many with one request."""
        return self.predict_many([(latitudes, longitudes, rss_dbm, frequency_hz, tx_power_dbm)])[0]

    def predict_many(self, requests: list[tuple], chunk: int = 16) -> list["ModelFix"]:
        """predict_many_at_once in chunks of `chunk`: onnxruntime is fastest per request at
        batches of ~10 (1.2 ms against 2.0 alone and 2.8 in batches of 100, which leave the
        CPU caches)."""
        fixes = []
        for start in range(0, len(requests), chunk):
            fixes += self.predict_many_at_once(requests[start : start + chunk])
        return fixes

    def predict_many_at_once(self, requests: list[tuple]) -> list["ModelFix"]:
        """Fixes for (latitudes, longitudes, calibrated strengths dBm, frequency Hz, power dBm
        or None) requests, in one model run per power round (padded and masked).

        Strengths are moved to what the model was trained on: the training frequency's
        free-space loss (20 log10 f), and the training power when the power is given.
        With the power unknown it is estimated jointly: POWER_ITERATIONS rounds of model
        fix → power that best explains the strengths from it (radio.localization.power_at,
        prior centred on the training power) → model fix at that power."""
        count, width = len(requests), max(len(r[0]) for r in requests)
        xy_km = np.zeros((count, width, 2))
        rss = np.zeros((count, width))
        mask = np.zeros((count, width), dtype=bool)
        powers = np.full(count, self.training_power)
        unknown = np.array([r[4] is None for r in requests])
        for index, (lat, lon, strengths, frequency, power) in enumerate(requests):
            k = len(lat)
            xy_km[index, :k] = to_local_metres(np.asarray(lat, float), np.asarray(lon, float),
                                               *self.origin) / 1000.0  # fmt: skip
            rss[index, :k] = np.asarray(strengths, float) + 20 * math.log10(
                frequency / self.training_frequency
            )
            mask[index, :k] = True
            if power is not None:
                powers[index] = power
        prior = (self.training_power, 10.0)
        rounds = POWER_ITERATIONS if unknown.any() else 0
        for _ in range(rounds):
            output, _ = self._run(xy_km, rss + (self.training_power - powers)[:, None], mask)
            for index in np.flatnonzero(unknown):
                heard = mask[index]
                powers[index] = power_at(output[index, :2] * 1000, xy_km[index, heard] * 1000,
                                         rss[index, heard], self.propagation, prior)  # fmt: skip
        output, posterior = self._run(xy_km, rss + (self.training_power - powers)[:, None], mask)
        fixes = []
        for index in range(count):
            position_km = output[index, :2]
            if posterior is not None:
                weights = posterior[index]
                covariance = posterior_covariance(weights, self.grid_km, position_km) * 1e6
            else:  # a model without a posterior output: its σ, isotropic
                sigma_m = math.exp(float(output[index, 2])) * 1000
                covariance = np.eye(2) * sigma_m**2
                offsets = self.grid_km - position_km
                weights = np.exp(-(offsets**2).sum(-1) * 1e6 / (2 * sigma_m**2))
            latitude, longitude = to_lat_lon(position_km * 1000, *self.origin)
            fixes.append(ModelFix(
                latitude=float(latitude), longitude=float(longitude), covariance_m2=covariance,
                tx_power_dbm=float(powers[index]), tx_power_estimated=bool(unknown[index]),
                weights=weights, model=self,
            ))  # fmt: skip
        return fixes

    def posterior_grid(self, weights: np.ndarray) -> PosteriorGrid:
        return posterior_from_xy_grid(
            weights.reshape(len(self.xs_km), len(self.ys_km)),
            self.xs_km * 1000,
            self.ys_km * 1000,
            *self.origin,
        )


def fix_problem(fix: "ModelFix", cells: int) -> str | None:
    """Why a model's fix cannot be served (a non-finite position or covariance, a posterior
    that is not a distribution over the bundle's grid), or None."""
    if not (math.isfinite(fix.latitude) and math.isfinite(fix.longitude)):
        return "it gave a non-finite position"
    if not np.isfinite(fix.covariance_m2).all():
        return "it gave a non-finite uncertainty"
    if not math.isfinite(fix.tx_power_dbm):
        return "it gave a non-finite transmitter power"
    weights = np.asarray(fix.weights, dtype=np.float64)
    if weights.size != cells or not np.isfinite(weights).all() or weights.sum() <= 0:
        return "its posterior is not a distribution over its grid"
    return None


def self_check(served: LocalizationModel) -> None:
    """Serve one request the model was trained for — receivers on a 30 km circle around its
    origin hearing a transmitter at the origin, power known and unknown — and raise
    ValueError saying why when that fails. A bundle whose ONNX inputs, grid or
    normalisation do not fit together otherwise loaded fine and then failed every request
    (a 500 for each POST .../localize, every automatic fix lost)."""
    low, high = served.trained_for.get("receivers", [3, 10_000])
    count = int(min(max(low, 4), high))
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    xy = np.stack([np.cos(angles), np.sin(angles)], -1) * 30_000.0
    points = to_lat_lon(xy, *served.origin)
    latitudes, longitudes = points[:, 0], points[:, 1]
    rss = served.propagation.received_power_dbm(served.training_power, np.full(count, 30_000.0))
    cells = len(served.grid_km)
    try:
        served.scope_problem(latitudes, longitudes, int(served.training_frequency))
    except Exception as exc:  # a malformed trained_for (receivers, band, area)
        raise ValueError(f"its trained_for cannot be read: {exc!r}"[:300]) from exc
    try:
        fixes = served.predict_many([
            (latitudes, longitudes, rss, int(served.training_frequency), served.training_power),
            (latitudes, longitudes, rss, int(served.training_frequency), None),
        ])  # fmt: skip
    except Exception as exc:  # onnxruntime and numpy raise their own types
        raise ValueError(f"it fails a test request: {str(exc).splitlines()[0][:300]}") from exc
    for fix in fixes:
        problem = fix_problem(fix, cells)
        if problem:
            raise ValueError(f"on a test request {problem}")


def load_localization_model(model: MLModel) -> LocalizationModel:
    onnx = bundles.read_bundle_file(model, "model.onnx")
    normalisation = json.loads(bundles.read_bundle_file(model, "normalisation.json"))
    served = LocalizationModel(
        onnx, normalisation, model_id=str(model.pk), name=model.name, version=model.version
    )
    self_check(served)
    return served


_active = ActiveModel(MLModel.Type.LOCALIZATION, load_localization_model)
_by_id: OrderedDict[str, LocalizationModel] = OrderedDict()
_by_id_lock = threading.Lock()
KEEP_LOADED = 4


def active_localization_model() -> LocalizationModel | None:
    """The deployed localization model (reloaded within a second of an activation), or None
    (none deployed, or its bundle failed to load: `active_problem()` says which)."""
    return _active.get()


def active_problem() -> str:
    """Why active_localization_model() gave None."""
    return _active.problem or "no localization model is active"


def localization_model(model_id: str) -> LocalizationModel | None:
    """A registered localization model by id (e.g. to redraw an older fix's posterior): the
    active one, or one of the few kept loaded; None when it no longer exists."""
    active = _active.get()
    if active is not None and active.model_id == str(model_id):
        return active
    with _by_id_lock:
        if str(model_id) in _by_id:
            _by_id.move_to_end(str(model_id))
            return _by_id[str(model_id)]
    model = MLModel.objects.filter(pk=model_id, model_type=MLModel.Type.LOCALIZATION).first()
    if model is None or not model.artifact_path:
        return None
    try:
        loaded = load_localization_model(model)
    except Exception:
        logger.exception("could not load localization model %s", model_id)
        return None
    with _by_id_lock:
        _by_id[str(model_id)] = loaded
        while len(_by_id) > KEEP_LOADED:
            _by_id.popitem(last=False)
    return loaded


def forget_loaded_localization_models() -> None:
    """Tests: drop the models kept by id (the active one goes with apps.ml.active's)."""
    with _by_id_lock:
        _by_id.clear()
