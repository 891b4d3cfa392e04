"""BigConvNet encoder (convolution + pool stages 16 -> 1024 channels down to 4x4) and its mirror."""

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
)

FEATURE_SIDE = 4
PUBLISHED = (16, 32, 64, 128, 256, 512, 1024)


def _plan(config: BackboneConfig) -> tuple[list[int], int]:
    """Channels of the seven stages and how many of the first ones end with a 2x2 max-pool."""
    return [scaled(c, config.width) for c in PUBLISHED], halvings(config.size, FEATURE_SIDE)


class BigConvEncoder(BaseEncoder):
    """Seven 3x3 convolution stages (16 ... 1024 published channels), pooling until 4x4."""

    def __init__(self, config: BackboneConfig):
        channels, pools = _plan(config)
        super().__init__(channels[-1] * FEATURE_SIDE**2, config.latent_dim)
        layers: list[nn.Module] = []
        cin = config.channels
        for i, cout in enumerate(channels):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ELU()]
            if i < pools:
                layers.append(nn.MaxPool2d(2))
            cin = cout
        self.trunk = nn.Sequential(*layers, nn.Flatten(), nn.Dropout(config.dropout))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The flattened 4x4 map after dropout."""
        return self.trunk(x)


@register_architecture("bigconv")
class BigConvDecoder(BaseDecoder):
    """FC latent -> 4x4 map, then the stages in reverse: 2x upsampling where the encoder pooled, 3x3 convolution."""

    encoder_class = BigConvEncoder

    def __init__(self, config: BackboneConfig):
        super().__init__()
        channels, pools = _plan(config)
        self.top = channels[-1]
        self.fc = nn.Sequential(
            nn.Linear(config.latent_dim, self.top * FEATURE_SIDE**2), nn.ELU(), nn.Dropout(config.dropout))
        layers: list[nn.Module] = []
        for i in reversed(range(len(channels))):
            if i < pools:
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
            layers += [nn.Conv2d(channels[i], channels[i - 1] if i > 0 else channels[0], 3, padding=1), nn.ELU()]
        layers += [nn.Conv2d(channels[0], config.channels, 3, padding=1), nn.Sigmoid()]
        self.trunk = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Decode latents to crops in [0, 1]."""
        return self.trunk(self.fc(z).view(-1, self.top, FEATURE_SIDE, FEATURE_SIDE))
