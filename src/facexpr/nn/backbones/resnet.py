"""ResNet encoder (7x7 stem, residual blocks with skip connections down to 8x8x512) and its mirror."""

from __future__ import annotations

import torch
from torch import nn

from facexpr.nn.backbones.base import (
    BackboneConfig,
    BaseDecoder,
    BaseEncoder,
    halvings,
    register_architecture,
    scaled,
    stage_channels,
)

FEATURE_SIDE = 8
BLOCKS_PER_STAGE = 2


def _plan(config: BackboneConfig) -> tuple[int, list[int]]:
    """Stem channels and per-stage channels: the stem halves once, every stage after the first once more."""
    published = stage_channels(halvings(config.size, FEATURE_SIDE), 512, 64)
    return scaled(64, config.width), [scaled(c, config.width) for c in published]


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) skip connection, ELU."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ELU(),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
        )
        self.skip = (
            nn.Identity() if cin == cout and stride == 1
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
        )
        self.act = nn.ELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``act(body(x) + skip(x))``."""
        return self.act(self.body(x) + self.skip(x))


class ResNetEncoder(BaseEncoder):
    """7x7 stride-2 stem, then stages of residual blocks (stride 2 at every stage but the first)."""

    def __init__(self, config: BackboneConfig):
        stem, stages = _plan(config)
        super().__init__(stages[-1] * FEATURE_SIDE**2, config.latent_dim)
        layers: list[nn.Module] = [
            nn.Conv2d(config.channels, stem, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(stem), nn.ELU()]
        cin = stem
        for i, cout in enumerate(stages):
            for b in range(BLOCKS_PER_STAGE):
                layers.append(ResidualBlock(cin, cout, stride=2 if i > 0 and b == 0 else 1))
                cin = cout
        self.trunk = nn.Sequential(*layers, nn.Flatten(), nn.Dropout(config.dropout))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The flattened 8x8 map after dropout."""
        return self.trunk(x)


@register_architecture("resnet")
class ResNetDecoder(BaseDecoder):
    """FC latent -> 8x8 map, residual stages in reverse with 2x upsampling, 7x7 output convolution."""

    encoder_class = ResNetEncoder

    def __init__(self, config: BackboneConfig):
        super().__init__()
        stem, stages = _plan(config)
        self.top = stages[-1]
        self.fc = nn.Sequential(
            nn.Linear(config.latent_dim, self.top * FEATURE_SIDE**2), nn.ELU(), nn.Dropout(config.dropout))
        layers: list[nn.Module] = []
        for i in reversed(range(len(stages))):
            cout = stages[i - 1] if i > 0 else stem
            layers += [ResidualBlock(stages[i], stages[i]), ResidualBlock(stages[i], cout)]
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        layers += [nn.Conv2d(stem, config.channels, 7, padding=3), nn.Sigmoid()]
        self.trunk = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Decode latents to crops in [0, 1]."""
        return self.trunk(self.fc(z).view(-1, self.top, FEATURE_SIDE, FEATURE_SIDE))
