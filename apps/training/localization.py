"""Localization models in plain torch: a set of 3–15 receivers → position and uncertainty.

Each receiver is (x km, y km, RSS, SNR), standardised, in local coordinates
around the dataset's area; padding is masked. The loss is the Gaussian
negative log-likelihood of the true position (errors reported in metres).

Both architectures end in the same decoder, an *evidence map*: every receiver
contributes, over a grid of candidate transmitter positions covering the
area, the log-evidence −precisionᵢ · (ln ‖g − rᵢ‖ − hᵢ)², where hᵢ (its
expected log-range) and precisionᵢ are what the network makes of the
receiver's features. The maps of all receivers are summed (receivers' errors
are independent), a learned prior over the grid is added, and the geometric
median of that posterior (Weiszfeld steps from its mean) is the position; its
spread gives the uncertainty. The form is that of a log-distance path-loss
likelihood with log-normal shadowing, but nothing of the propagation model is
given to it: ranges, their precision and the prior are learned from the data.
A free regression head (mean/max pooling into an MLP) stayed at ~0.91× the
WLS baseline's median error on the seed-default data; the evidence map
reaches 0.73–0.80× (the Bayes posterior: 0.71–0.73×; docs/performance.md).

Imported only by the training worker: the web process never loads torch.
"""

import math

import numpy as np
import torch
from torch import nn

from apps.training.selection import MIN_RECEIVERS, heard_mask

GRID_CELLS = 48


class EvidenceMap(nn.Module):
    """Per-receiver (expected log-range, log-precision) → (x km, y km, log sigma km)."""

    def __init__(self, half_extent_km: tuple[float, float], cells: int = GRID_CELLS,
                 median_steps: int = 5):  # fmt: skip
        super().__init__()
        self.median_steps = median_steps
        xs = torch.linspace(-half_extent_km[0], half_extent_km[0], cells)
        ys = torch.linspace(-half_extent_km[1], half_extent_km[1], cells)
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="ij"), -1).reshape(-1, 2)
        # Not saved with the weights: a model started from another area's bundle
        # keeps its own dataset's grid.
        self.register_buffer("grid", grid, persistent=False)
        self.prior = nn.Parameter(torch.zeros(cells * cells))
        self.log_temperature = nn.Parameter(torch.zeros(()))
        # Exports (and evaluation) also want the posterior over the grid: the served model's
        # uncertainty ellipse and heat map come from it (apps.ml.localization).
        self.with_posterior = False

    def forward(self, ranging, xy_km, mask):
        log_range = ranging[..., 0:1] + 4.0  # ~55 km when the network says 0
        precision = torch.exp(ranging[..., 1:2].clamp(-10, 10))
        squared = ((xy_km.unsqueeze(2) - self.grid) ** 2).sum(-1) + 1.0  # [B, K, cells], km²
        evidence = -precision * (0.5 * torch.log(squared) - log_range) ** 2
        log_posterior = (evidence * mask.unsqueeze(-1).float()).sum(1) + self.prior
        weights = torch.softmax(log_posterior, -1)
        position = weights @ self.grid  # the posterior mean, then towards its median:
        for _ in range(self.median_steps):  # Weiszfeld steps to the geometric median
            inverse = ((self.grid - position.unsqueeze(1)) ** 2).sum(-1).add(1.0).rsqrt()
            position = (weights * inverse) @ self.grid / (weights * inverse).sum(-1, keepdim=True)
        spread = (weights * ((self.grid - position.unsqueeze(1)) ** 2).sum(-1)).sum(-1)
        log_sigma = 0.5 * torch.log(spread / 2 + 1.0) + self.log_temperature
        output = torch.cat([position, log_sigma.unsqueeze(-1)], -1)
        return (output, weights) if self.with_posterior else output


class _SetModel(nn.Module):
    """Shared parts: un-standardising receiver positions, the evidence-map decoder."""

    def __init__(self, half_extent_km, xy_mean, xy_std):
        super().__init__()
        self.decoder = EvidenceMap(half_extent_km)
        self.register_buffer("xy_mean", torch.tensor(xy_mean, dtype=torch.float32), False)
        self.register_buffer("xy_std", torch.tensor(xy_std, dtype=torch.float32), False)

    def decode(self, ranging, x, mask):
        return self.decoder(ranging, x[..., :2] * self.xy_std + self.xy_mean, mask)


class DeepSets(_SetModel):
    """phi per receiver, pooled by summing its evidence maps (Zaheer et al., 2017)."""

    def __init__(self, features: int = 4, width: int = 128, dropout: float = 0.2,
                 half_extent_km=(100.0, 100.0), xy_mean=(0.0, 0.0), xy_std=(1.0, 1.0)):  # fmt: skip
        super().__init__(half_extent_km, xy_mean, xy_std)
        self.phi = nn.Sequential(
            nn.Linear(features, width), nn.GELU(), nn.Linear(width, width), nn.GELU(),
            nn.Dropout(dropout), nn.Linear(width, 2),
        )  # fmt: skip

    def forward(self, x, mask):
        return self.decode(self.phi(x), x, mask)


class SelfAttentionBlock(nn.Module):
    """Lee et al.'s set attention block (SAB), pre-norm: x + attention(LN x), then
    x + feed-forward(LN x). Written out rather than nn.TransformerEncoderLayer, whose
    traced ONNX export fixes the set size: this one reads no shapes, so the exported
    model takes any number of receivers."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.scale = heads, (width // heads) ** -0.5
        self.attention_norm, self.feedforward_norm = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.out = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.feedforward = nn.Sequential(
            nn.Linear(width, 2 * width), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * width, width)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, h, mask):
        # [B, K, 3·width] → three [B, heads, K, width/heads]
        qkv = self.qkv(self.attention_norm(h)).unflatten(-1, (3, self.heads, -1))
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        scores = (q @ k.transpose(-1, -2)) * self.scale
        scores = scores.masked_fill(~mask[:, None, None, :], -1e4)  # padding is never attended
        attended = (scores.softmax(-1) @ v).transpose(1, 2).flatten(-2)
        h = h + self.dropout(self.out(attended))
        return h + self.dropout(self.feedforward(self.feedforward_norm(h)))


class SetTransformer(_SetModel):
    """Two self-attention blocks (Lee et al., 2019), so each receiver's ranging can depend
    on the others', then the same evidence-map pooling as DeepSets."""

    def __init__(self, features: int = 4, width: int = 128, heads: int = 4, dropout: float = 0.2,
                 half_extent_km=(100.0, 100.0), xy_mean=(0.0, 0.0), xy_std=(1.0, 1.0)):  # fmt: skip
        super().__init__(half_extent_km, xy_mean, xy_std)
        self.embed = nn.Linear(features, width)
        self.blocks = nn.ModuleList(SelfAttentionBlock(width, heads, dropout) for _ in range(2))
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 2))

    def forward(self, x, mask):
        h = self.embed(x)
        for block in self.blocks:
            h = block(h, mask)
        return self.decode(self.head(h), x, mask)


ARCHITECTURES = {"deepsets": DeepSets, "set_transformer": SetTransformer}


def gaussian_nll_km(output, target_km):
    """NLL of the target under N(mu, sigma² I) in 2-D; sigma from log-sigma, in km."""
    mu, log_sigma = output[:, :2], output[:, 2].clamp(-7, 5)
    squared = ((mu - target_km) ** 2).sum(-1)
    return (squared / (2 * torch.exp(2 * log_sigma)) + 2 * log_sigma).mean()


class LocalizationPipeline:
    """Data, model, loss and evaluation of a localization job (see runner.train)."""

    model_type = "localization"
    dataset_type = "localization"
    input_names = ["receivers", "mask"]  # the ONNX export's inputs, as example_inputs gives them
    onnx_dynamic_axes = {name: {1: "receivers"} for name in input_names}  # any set size
    # output [B, 3] (x km, y km, log σ km); posterior [B, cells²] over the grid (ij order)
    onnx_output_names = ["output", "posterior"]

    headline_name = "model_median_error_m"

    def __init__(self, config: dict, arrays: dict, parameters: dict, device):
        from apps.radio.propagation import to_local_metres

        # Receivers below the config's min_snr_db are not heard (the data-check counts the
        # same): masked like padding.
        arrays = {**arrays, "mask": heard_mask(arrays, config["min_snr_db"])}
        self.config, self.arrays, self.parameters, self.device = config, arrays, parameters, device
        self.origin = (
            (parameters["area_lat_min"] + parameters["area_lat_max"]) / 2,
            (parameters["area_lon_min"] + parameters["area_lon_max"]) / 2,
        )
        receivers, mask = arrays["receivers"].astype(np.float64), arrays["mask"]
        xy = to_local_metres(receivers[..., 0], receivers[..., 1], *self.origin) / 1000.0
        self.raw_features = np.nan_to_num(
            np.concatenate([xy, receivers[..., 2:4]], axis=-1), nan=0.0
        )
        targets = to_local_metres(arrays["targets"][:, 0], arrays["targets"][:, 1], *self.origin)
        self.m = torch.from_numpy(mask).to(device)
        self.y = torch.from_numpy((targets / 1000).astype(np.float32)).to(device)
        self.normalisation: dict = {}
        self.x = None

    def fit_normalisation(self, train_idx: np.ndarray) -> None:
        """Standardise each feature with the training split's heard receivers only."""
        mask = self.arrays["mask"]
        valid = self.raw_features[train_idx][mask[train_idx]]
        mean, std = valid.mean(0), np.where(valid.std(0) > 0, valid.std(0), 1.0)
        features = np.where(mask[..., None], (self.raw_features - mean) / std, 0.0)
        self.normalisation = {
            "features": ["x_km", "y_km", "rss_dbm", "snr_db"],
            "mean": mean.tolist(),
            "std": std.tolist(),
            "origin_lat_lon": list(self.origin),
            **self._served_metadata(),
        }
        self.x = torch.from_numpy(features.astype(np.float32)).to(self.device)

    def _served_metadata(self) -> dict:
        """What the serving side (apps.ml.localization) needs beside the weights: the grid of
        the posterior output, and what the model was trained for (it falls back to WLS
        outside it: area, receiver count, frequency band; the power it assumes)."""
        from apps.core.bands import AMATEUR_BANDS
        from apps.radio.propagation import PropagationModel, to_local_metres

        p = self.parameters
        frequency_hz = round(p["frequency_mhz"] * 1e6)
        band = next(((low, high) for _, low, high in AMATEUR_BANDS if low <= frequency_hz <= high),
                    (int(frequency_hz * 0.98), int(frequency_hz * 1.02)))  # fmt: skip
        corner = to_local_metres(p["area_lat_max"], p["area_lon_max"], *self.origin) / 1000.0
        heard = self.arrays["mask"].sum(axis=1)
        noise_floor = PropagationModel(frequency_mhz=p["frequency_mhz"]).noise_floor_dbm
        return {
            "grid": {"cells": GRID_CELLS, "half_extent_km": [float(corner[0]), float(corner[1])]},
            "trained_for": {
                "area": {key: p[key] for key in
                         ("area_lat_min", "area_lat_max", "area_lon_min", "area_lon_max")},
                "receivers": [int(heard.min()), int(heard.max())],
                "frequency_hz": [int(band[0]), int(band[1])],
                "training_frequency_hz": frequency_hz,
                "tx_power_dbm": p["tx_power_dbm"],
                "noise_floor_dbm": noise_floor,
            },
        }  # fmt: skip

    def __len__(self) -> int:
        return len(self.raw_features)

    def trainable_indices(self) -> np.ndarray:
        """Samples that still have MIN_RECEIVERS receivers at min_snr_db."""
        return np.flatnonzero(self.arrays["mask"].sum(1) >= MIN_RECEIVERS)

    def headline(self, model, idx: np.ndarray) -> float:
        """Validation median error in metres (half precision and auto-activation)."""
        vi = torch.from_numpy(idx).to(self.device)
        out = self._predict(model, vi)[:, :2]
        return float(torch.median(((out - self.y[vi]) ** 2).sum(-1).sqrt()).cpu()) * 1000

    @staticmethod
    def half_allowed(full: float, half: float) -> bool:
        """Float16 weights when they cost at most 1 % of median error."""
        return half <= full * 1.01

    @staticmethod
    def headline_better(ours: float, theirs: float) -> bool:
        return ours < theirs

    def onnx_headline(self, session, normalisation: dict, idx: np.ndarray) -> float:
        """Another model's median error (m) on these samples through its ONNX export, in its
        own frame (origin) and standardisation."""
        from apps.radio.propagation import to_local_metres

        origin = normalisation["origin_lat_lon"]
        mean, std = np.array(normalisation["mean"]), np.array(normalisation["std"])
        receivers = self.arrays["receivers"][idx].astype(np.float64)
        mask = self.arrays["mask"][idx]
        xy = to_local_metres(receivers[..., 0], receivers[..., 1], *origin) / 1000.0
        features = np.nan_to_num(np.concatenate([xy, receivers[..., 2:4]], axis=-1), nan=0.0)
        x = np.where(mask[..., None], (features - mean) / std, 0.0).astype(np.float32)
        outputs = np.concatenate([
            session.run(None, {"receivers": x[s : s + 1024], "mask": mask[s : s + 1024]})[0]
            for s in range(0, len(x), 1024)
        ])  # fmt: skip
        targets = self.arrays["targets"][idx]
        truth = to_local_metres(targets[:, 0], targets[:, 1], *origin) / 1000.0
        return float(np.median(np.linalg.norm(outputs[:, :2] - truth, axis=1))) * 1000

    def build_model(self) -> nn.Module:
        """After fit_normalisation: the model un-standardises positions itself."""
        from apps.radio.propagation import to_local_metres

        p = self.parameters
        corner = to_local_metres(p["area_lat_max"], p["area_lon_max"], *self.origin) / 1000.0
        cls = ARCHITECTURES[self.config["model_architecture"]]
        return cls(
            dropout=self.config["dropout_rate"],
            half_extent_km=(float(corner[0]), float(corner[1])),
            xy_mean=self.normalisation["mean"][:2],
            xy_std=self.normalisation["std"][:2],
        )

    def batch_loss(self, model, idx):
        """(loss, correctly classified count or None)."""
        return gaussian_nll_km(model(self.x[idx], self.m[idx]), self.y[idx]), None

    def _predict(self, model, idx, chunk: int = 1024):
        """The model's outputs for `idx` (a tensor on the device), in chunks: each holds an
        evidence map per receiver, so a whole validation set at once would not fit."""
        with torch.no_grad():
            return torch.cat(
                [model(self.x[part], self.m[part]) for part in torch.split(idx, chunk)]
            )

    def validate(self, model, idx) -> dict:
        out = self._predict(model, idx)
        errors = ((out[:, :2] - self.y[idx]) ** 2).sum(-1).sqrt().cpu().numpy() * 1000
        return {
            "val_loss": gaussian_nll_km(out, self.y[idx]).item(),
            "val_accuracy": None,
            "summary": f"val median error {np.median(errors):.0f} m",
        }

    def calibrate_export(self, onnx: bytes, idx: np.ndarray, chunk: int = 256) -> dict:
        """Coverage scales of what will be served — the ONNX export run by apps.ml.localization,
        power known and power unknown (strengths shifted by up to ±10 dB, the power
        estimated jointly) — on `idx` (validation samples): the served CEP50 / CEP95 / 95 %
        ellipse hold 50 / 95 / 95 % of these errors. Stored in normalisation.json
        (`uncertainty`, `uncertainty_unknown_power`)."""
        from apps.ml.localization import LocalizationModel
        from apps.radio.localization import coverage_scales
        from apps.radio.propagation import to_local_metres

        served = LocalizationModel(onnx, self.normalisation)
        frequency = self.normalisation["trained_for"]["training_frequency_hz"]
        power = self.parameters["tx_power_dbm"]
        shifts = np.random.default_rng(0).uniform(-10, 10, len(idx))
        scales = {}
        for key, unknown in (("uncertainty", False), ("uncertainty_unknown_power", True)):
            errors, covariances = [], []
            for start in range(0, len(idx), chunk):
                part = idx[start : start + chunk]
                requests = []
                for slot, index in enumerate(part):
                    rx = self.arrays["receivers"][index][self.arrays["mask"][index]].astype(float)
                    shift = shifts[start + slot] if unknown else 0.0
                    requests.append((rx[:, 0], rx[:, 1], rx[:, 2] + shift, frequency,
                                     None if unknown else power))  # fmt: skip
                for index, fix in zip(part, served.predict_many(requests), strict=True):
                    truth = self.arrays["targets"][index]
                    errors.append(to_local_metres(fix.latitude, fix.longitude, *truth))
                    covariances.append(fix.covariance_m2)
            scales[key] = coverage_scales(np.array(errors), np.array(covariances)).as_dict()
        self.normalisation.update(scales)
        return scales

    def evaluate(self, model, idx: np.ndarray) -> dict:
        """Model, weighted-least-squares and Cramér–Rao bound on the same validation set."""
        from apps.radio.propagation import PropagationModel, to_local_metres, wls_localize

        vi = torch.from_numpy(idx).to(self.device)
        output = self._predict(model, vi)
        out = output[:, :2]
        errors = ((out - self.y[vi]) ** 2).sum(-1).sqrt().cpu().numpy() * 1000
        sigma_m = torch.exp(output[:, 2].clamp(-7, 5)).cpu().numpy() * 1000
        p = self.parameters
        propagation = PropagationModel(frequency_mhz=p["frequency_mhz"])
        wls = []
        for index in idx:  # the same samples as the model, all of them
            heard = self.arrays["mask"][index]
            rx = self.arrays["receivers"][index][heard].astype(float)
            local = to_local_metres(rx[:, 0], rx[:, 1], *self.origin)
            truth = to_local_metres(*self.arrays["targets"][index], *self.origin)
            estimate = wls_localize(local, rx[:, 2], p["tx_power_dbm"], propagation)
            wls.append(float(np.linalg.norm(estimate - truth)))
        crb = self.arrays["crb_m"][idx]
        wls = np.array(wls)

        def percentiles(values) -> dict:
            return {f"p{q}": round(float(np.quantile(values, q / 100)), 1)
                    for q in (50, 68, 90, 95)}  # fmt: skip

        return {
            "model_median_error_m": round(float(np.median(errors)), 1),
            "model_p90_error_m": round(float(np.quantile(errors, 0.9)), 1),
            "wls_median_error_m": round(float(np.median(wls)), 1),
            "wls_p90_error_m": round(float(np.quantile(wls, 0.9)), 1),
            "crb_median_m": round(float(np.median(crb)), 1),
            "crb_p90_m": round(float(np.quantile(crb, 0.9)), 1),
            "error_percentiles_m": {
                "model": percentiles(errors),
                "wls": percentiles(wls),
                "crb": percentiles(crb),
            },
            # The model's sigma is per axis of an isotropic 2-D Gaussian: the CEP50 circle
            # has radius 1.1774 sigma, the 95 % circle 2.4477 sigma.
            "uncertainty_coverage": {
                "cep50": round(float(np.mean(errors <= 1.1774 * sigma_m)), 4),
                "circle95": round(float(np.mean(errors <= 2.4477 * sigma_m)), 4),
                "expected": {"cep50": 0.5, "circle95": 0.95},
            },
            "validation_samples": len(idx),
        }

    @staticmethod
    def export_model(model):
        """The module to export: the model with its posterior as a second output."""
        model.decoder.with_posterior = True
        return model

    def example_inputs(self, idx: np.ndarray) -> tuple:
        vi = torch.from_numpy(idx).to(self.device)
        return self.x[vi], self.m[vi]

    @staticmethod
    def better(metrics: dict, than: dict) -> bool:
        return metrics.get("model_median_error_m", math.inf) < than.get(
            "model_median_error_m", math.inf
        )
