"""ConvNeXt (Liu et al., "A ConvNet for the 2020s", 2022) in plain torch, for spectrograms.

The stages, block and widths are the paper's: a 4×4 stride-4 patchify stem,
four stages separated by LayerNorm + 2×2 stride-2 convolutions, and blocks of
depthwise 7×7 convolution → LayerNorm → 4× inverted MLP with GELU → layer
scale (1e-6) → stochastic depth. The input is one channel (a log-mel
spectrogram) instead of RGB; the head classifies into the dataset's classes.
"""

import torch
from torch import nn

# name → (depths, widths), Table 1 of the paper (and its released code)
VARIANTS = {
    "convnext_tiny": ((3, 3, 9, 3), (96, 192, 384, 768)),
    "convnext_small": ((3, 3, 27, 3), (96, 192, 384, 768)),
    "convnext_large": ((3, 3, 27, 3), (192, 384, 768, 1536)),
}
MIN_INPUT = 32  # the network downsamples by 32 in all


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an [N, C, H, W] tensor."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class DropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch per sample while training."""

    def __init__(self, probability: float):
        super().__init__()
        self.probability = probability

    def forward(self, x):
        if not self.training or self.probability == 0.0:
            return x
        keep = 1.0 - self.probability
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Block(nn.Module):
    def __init__(self, width: int, drop_path: float, layer_scale: float = 1e-6):
        super().__init__()
        self.depthwise = nn.Conv2d(width, width, kernel_size=7, padding=3, groups=width)
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.expand = nn.Linear(width, 4 * width)
        self.act = nn.GELU()
        self.project = nn.Linear(4 * width, width)
        self.gamma = nn.Parameter(layer_scale * torch.ones(width))
        self.drop_path = DropPath(drop_path)

    def forward(self, x):
        h = self.depthwise(x).permute(0, 2, 3, 1)  # channels last for LayerNorm and Linear
        h = self.project(self.act(self.expand(self.norm(h)))) * self.gamma
        return x + self.drop_path(h.permute(0, 3, 1, 2))


class ConvNeXt(nn.Module):
    def __init__(
        self,
        depths,
        widths,
        num_classes: int,
        in_channels: int = 1,
        drop_path_rate: float = 0.1,
        head_dropout: float = 0.0,
    ):
        super().__init__()
        self.downsample = nn.ModuleList(
            [
                nn.Sequential(
                    nn.Conv2d(in_channels, widths[0], kernel_size=4, stride=4),
                    LayerNorm2d(widths[0], eps=1e-6),
                )
            ]
            + [
                nn.Sequential(
                    LayerNorm2d(widths[i], eps=1e-6),
                    nn.Conv2d(widths[i], widths[i + 1], kernel_size=2, stride=2),
                )
                for i in range(3)
            ]
        )
        # On the CPU even when built under `torch.device("meta")` (counting parameters).
        rates = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()
        self.stages = nn.ModuleList()
        for index, (depth, width) in enumerate(zip(depths, widths, strict=True)):
            first = sum(depths[:index])
            self.stages.append(
                nn.Sequential(*[Block(width, rates[first + j]) for j in range(depth)])
            )
        self.norm = nn.LayerNorm(widths[-1], eps=1e-6)
        self.dropout = nn.Dropout(head_dropout)
        self.head = nn.Linear(widths[-1], num_classes)
        self.apply(self._init)

    @staticmethod
    def _init(module):
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def backbone_parameters(self):
        """Everything but the classifier head (what `freeze_backbone` freezes)."""
        head = {id(p) for p in self.head.parameters()}
        return [p for p in self.parameters() if id(p) not in head]

    def forward(self, x):
        for downsample, stage in zip(self.downsample, self.stages, strict=True):
            x = stage(downsample(x))
        return self.head(self.dropout(self.norm(x.mean(dim=(-2, -1)))))


def convnext(name: str, num_classes: int, dropout: float = 0.0) -> ConvNeXt:
    depths, widths = VARIANTS[name]
    # dropout_rate drives both regularisers: stochastic depth and the head's dropout.
    return ConvNeXt(depths, widths, num_classes, drop_path_rate=dropout, head_dropout=dropout)
