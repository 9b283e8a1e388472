"""Localization models in plain torch: a set of 3–15 receivers → position and uncertainty.

Each receiver is (x km, y km, RSS, SNR), standardised, in local coordinates
around the dataset's area; padding is masked. The head predicts the position
(km) and one log standard deviation; the loss is the Gaussian negative
log-likelihood of the true position (in metres, reported).

Imported only by the training worker: the web process never loads torch.
"""

import math

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
        pooled, _ = self.pool(self.seed.expand(len(x), -1, -1), h, h, key_padding_mask=padding)
        return self.head(pooled.squeeze(1))


ARCHITECTURES = {"deepsets": DeepSets, "set_transformer": SetTransformer}


def gaussian_nll_km(output, target_km):
    """NLL of the target under N(mu, sigma² I) in 2-D; sigma from log-sigma, in km."""
    mu, log_sigma = output[:, :2], output[:, 2].clamp(-7, 5)
    squared = ((mu - target_km) ** 2).sum(-1)
    return (squared / (2 * torch.exp(2 * log_sigma)) + 2 * log_sigma).mean()
