"""Localization models in plain torch: a set of 3–15 receivers → position and uncertainty.

Each receiver is (x km, y km, RSS, SNR), standardised, in local coordinates
around the dataset's area; padding is masked. The head predicts the position
(km) and one log standard deviation; the loss is the Gaussian negative
log-likelihood of the true position (in metres, reported).

Imported only by the training worker: the web process never loads torch.
"""

import math

import numpy as np
import torch
from torch import nn


class DeepSets(nn.Module):
    """phi per receiver, masked mean and max pooling, rho (Zaheer et al., 2017)."""

    def __init__(self, features: int = 4, width: int = 128, dropout: float = 0.2):
        super().__init__()
        self.phi = nn.Sequential(
            nn.Linear(features, width), nn.GELU(), nn.Linear(width, width), nn.GELU()
        )
        self.rho = nn.Sequential(
            nn.Linear(2 * width, width), nn.GELU(), nn.Dropout(dropout), nn.Linear(width, 3)
        )

    def forward(self, x, mask):
        h = self.phi(x)
        weights = mask.unsqueeze(-1).float()
        mean = (h * weights).sum(1) / weights.sum(1).clamp(min=1)
        maximum = h.masked_fill(~mask.unsqueeze(-1), -1e4).max(1).values
        return self.rho(torch.cat([mean, maximum], dim=-1))


class SetTransformer(nn.Module):
    """Two self-attention blocks and attention pooling by a learned seed (Lee et al., 2019)."""

    def __init__(self, features: int = 4, width: int = 128, heads: int = 4, dropout: float = 0.2):
        super().__init__()
        self.embed = nn.Linear(features, width)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(width, heads, 2 * width, dropout, batch_first=True)
            for _ in range(2)
        )
        self.seed = nn.Parameter(torch.randn(1, 1, width) / math.sqrt(width))
        self.pool = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.head = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, 3))

    def forward(self, x, mask):
        padding = ~mask
        h = self.embed(x)
        for block in self.blocks:
            h = block(h, src_key_padding_mask=padding)
        pooled, _ = self.pool(self.seed.expand(x.shape[0], -1, -1), h, h, key_padding_mask=padding)
        return self.head(pooled.squeeze(1))


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

    def __init__(self, config: dict, arrays: dict, parameters: dict, device):
        from apps.training.propagation import to_local_metres

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
        }
        self.x = torch.from_numpy(features.astype(np.float32)).to(self.device)

    def __len__(self) -> int:
        return len(self.raw_features)

    def build_model(self) -> nn.Module:
        cls = ARCHITECTURES[self.config["model_architecture"]]
        return cls(dropout=self.config["dropout_rate"])

    def batch_loss(self, model, idx):
        """(loss, correctly classified count or None)."""
        return gaussian_nll_km(model(self.x[idx], self.m[idx]), self.y[idx]), None

    def validate(self, model, idx) -> dict:
        with torch.no_grad():
            out = model(self.x[idx], self.m[idx])
            errors = ((out[:, :2] - self.y[idx]) ** 2).sum(-1).sqrt().cpu().numpy() * 1000
        return {
            "val_loss": gaussian_nll_km(out, self.y[idx]).item(),
            "val_accuracy": None,
            "summary": f"val median error {np.median(errors):.0f} m",
        }

    def evaluate(self, model, idx: np.ndarray) -> dict:
        """Model, weighted-least-squares and Cramér–Rao bound on the same validation set."""
        from apps.training.propagation import PropagationModel, to_local_metres, wls_localize

        with torch.no_grad():
            vi = torch.from_numpy(idx).to(self.device)
            out = model(self.x[vi], self.m[vi])[:, :2]
            errors = ((out - self.y[vi]) ** 2).sum(-1).sqrt().cpu().numpy() * 1000
        p = self.parameters
        propagation = PropagationModel(frequency_mhz=p["frequency_mhz"])
        wls = []
        for index in idx[:500]:
            heard = self.arrays["mask"][index]
            rx = self.arrays["receivers"][index][heard].astype(float)
            local = to_local_metres(rx[:, 0], rx[:, 1], *self.origin)
            truth = to_local_metres(*self.arrays["targets"][index], *self.origin)
            estimate = wls_localize(local, rx[:, 2], p["tx_power_dbm"], propagation)
            wls.append(float(np.linalg.norm(estimate - truth)))
        crb = self.arrays["crb_m"][idx]
        return {
            "model_median_error_m": round(float(np.median(errors)), 1),
            "model_p90_error_m": round(float(np.quantile(errors, 0.9)), 1),
            "wls_median_error_m": round(float(np.median(wls)), 1),
            "wls_p90_error_m": round(float(np.quantile(wls, 0.9)), 1),
            "crb_median_m": round(float(np.median(crb)), 1),
            "crb_p90_m": round(float(np.quantile(crb, 0.9)), 1),
        }

    def example_inputs(self, idx: np.ndarray) -> tuple:
        vi = torch.from_numpy(idx).to(self.device)
        return self.x[vi], self.m[vi]

    @staticmethod
    def better(metrics: dict, than: dict) -> bool:
        return metrics.get("model_median_error_m", math.inf) < than.get(
            "model_median_error_m", math.inf
        )
