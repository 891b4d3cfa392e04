"""VGG encoder (3x3 convolution pairs/triples + max-pool down to 8x8x512, FC 4096 -> 4096) and its mirror."""

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


def _plan(config: BackboneConfig) -> list[tuple[int, int]]:
    """(channels, convolutions) per stage: pairs below 256 published channels, triples from 256 on."""
    published = stage_channels(halvings(config.size, FEATURE_SIDE), 512, 64)
    return [(scaled(c, config.width), 2 if c < 256 else 3) for c in published]


def _conv(cin: int, cout: int) -> list[nn.Module]:
    """A 3x3 same-padding convolution followed by ELU."""
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.ELU()]


class VGGEncoder(BaseEncoder):
    """Stages of 3x3 convolutions and 2x2 max-pools down to 8x8, then two dropout FC layers."""

    def __init__(self, config: BackboneConfig):
        plan = _plan(config)
        hidden = scaled(4096, config.width)
        super().__init__(hidden, config.latent_dim)
        layers: list[nn.Module] = []
        cin = config.channels
        for cout, convs in plan:
            for _ in range(convs):
                layers += _conv(cin, cout)
                cin = cout
            layers.append(nn.MaxPool2d(2))
        self.trunk = nn.Sequential(*layers)
        self.fc = nn.Sequential(
            nn.Flatten(),
            nn.Linear(cin * FEATURE_SIDE**2, hidden), nn.ELU(), nn.Dropout(config.dropout),
            nn.Linear(hidden, hidden), nn.ELU(), nn.Dropout(config.dropout),
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Convolution stages then the fully connected layers."""
        return self.fc(self.trunk(x))


@register_architecture("vgg")
class VGGDecoder(BaseDecoder):
    """FC latent -> 4096 -> 4096 -> 8x8 map, then per stage: 2x upsampling and the stage's convolutions."""

    encoder_class = VGGEncoder

    def __init__(self, config: BackboneConfig):
        super().__init__()
        plan = _plan(config)
        hidden = scaled(4096, config.width)
        self.top = plan[-1][0]
        self.fc = nn.Sequential(
            nn.Linear(config.latent_dim, hidden), nn.ELU(), nn.Dropout(config.dropout),
            nn.Linear(hidden, hidden), nn.ELU(), nn.Dropout(config.dropout),
            nn.Linear(hidden, self.top * FEATURE_SIDE**2), nn.ELU(),
        )
        layers: list[nn.Module] = []
        for i in reversed(range(len(plan))):
            cin, convs = plan[i]
            cout = plan[i - 1][0] if i > 0 else cin
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
            for k in range(convs):
                layers += _conv(cin, cout if k == convs - 1 else cin)
        layers += [nn.Conv2d(plan[0][0], config.channels, 3, padding=1), nn.Sigmoid()]
        self.trunk = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Decode latents to crops in [0, 1]."""
        return self.trunk(self.fc(z).view(-1, self.top, FEATURE_SIDE, FEATURE_SIDE))
