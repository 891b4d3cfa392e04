"""The two-step CNN's networks: step 1 (image generation), step 2 (refinement) and the classification head.

Step 1 is :class:`~facexpr.nn.ConditionalEncoderDecoder` as configured. Step 2 reuses the same class rather
than :class:`~facexpr.nn.UNet`: the report's refinement is "a second encoder-decoder" like the first (no skip
connections; a U-Net would be a different, stronger model), and reusing it keeps its sampling, activation,
batch norm and widths. It takes step 1's output and the one-hot at its bottleneck only, so its first level
sees the image alone: the classification head reads that level, and would otherwise read the requested
class off constant input planes instead of the face.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from facexpr.models.twostep.config import TwoStepConfig
from facexpr.nn.conditioning import inject
from facexpr.nn.generator import ConditionalEncoderDecoder, he_initialise

#: The published head's layers after the tapped level: (out channels, kernel, stride, padding); the second
#: layer's stride is the published 5 at the published 64 px map and scales with the map (:func:`head_layers`).
HEAD_LAYERS = ((32, 5, 1, 2), (16, 5, 5, 0), (1, 2, 2, 0))
#: Side of the map the published head reads (the first level of a 128 px crop).
PUBLISHED_SIDE = 64


def head_layers(side: int) -> tuple[tuple[int, int, int, int], ...]:
    """The head's layers for a tapped map of ``side`` pixels: the published ones, the second convolution's
    stride scaled with the map (``max(1, round(5 * side / 64))``: 5 at 64, 2 at 32, 1 at 16), so that its last
    map stays about 6 x 6 at every crop size instead of shrinking to one pixel at 32 px crops."""
    (c1, k1, s1, p1), (c2, k2, s2, p2), last = HEAD_LAYERS
    return (c1, k1, s1, p1), (c2, k2, max(1, round(s2 * side / PUBLISHED_SIDE)), p2), last


def head_features(side: int) -> int:
    """Inputs of the head's fully connected layer for a tapped map of ``side`` pixels (64 -> 36, as published;
    32 -> 49; 16 -> 36).

    Raises:
        ValueError: the map is too small for the head.
    """
    out = side
    for _, kernel, stride, padding in head_layers(side):
        out = (out + 2 * padding - kernel) // stride + 1
    if out < 1:
        raise ValueError(f"the classification head needs a first-level map of at least 6 pixels, got {side}")
    return out * out


def _activation(name: str) -> nn.Module:
    """ReLU or LeakyReLU 0.2 (as the encoder-decoders)."""
    return nn.ReLU() if name == "relu" else nn.LeakyReLU(0.2)


class ExpressionHead(nn.Module):
    """The report's classification head on a (B, width, side, side) feature map -> logits (B, K).

    Conv width->32 5x5, Conv 32->16 5x5 stride 5 (scaled with the map, :func:`head_layers`), Conv 16->1 2x2
    stride 2 (each followed by the network's activation; no batch norm: the report does not say, ours), then
    FC (last side)^2 -> K.
    """

    def __init__(self, in_channels: int, classes: int, side: int, activation: str = "lrelu"):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for cout, kernel, stride, padding in head_layers(side):
            layers += [nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding), _activation(activation)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(head_features(side), classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.fc(self.features(features).flatten(1))


@dataclass
class TwoStepOutput:
    """One forward pass: the final image, step 1's image, and the head's logits (None without a head)."""

    image: torch.Tensor
    coarse: torch.Tensor
    logits: torch.Tensor | None


def _first_level_length(encoder: nn.Sequential) -> int:
    """How many modules of an encoder make its first level (up to and including the first activation)."""
    for index, layer in enumerate(encoder):
        if isinstance(layer, (nn.ReLU, nn.LeakyReLU)):
            return index + 1
    raise ValueError("encoder without an activation")


class TwoStepNet(nn.Module):
    """Photos (B, C, S, S) and a one-hot (B, K) -> :class:`TwoStepOutput`.

    ``generate`` is step 1; ``refiner`` (with ``config.refine``) step 2 on step 1's output; ``head`` (with
    ``config.classify``) the classification head on the refiner's first level.
    """

    def __init__(self, config: TwoStepConfig):
        super().__init__()
        if not config.classes:
            raise ValueError("a two-step network needs its classes (the expressions of the one-hot)")
        self.config = config
        k = len(config.classes)
        common = dict(channels=config.channels, classes=k, depth=config.depth, width=config.width,
                      max_width=config.max_width, sampling=config.sampling, activation=config.activation,
                      output=config.output)
        self.generate = ConditionalEncoderDecoder(inject=config.inject, **common)
        self.refiner = ConditionalEncoderDecoder(inject="bottleneck", **common) if config.refine else None
        self.head = (ExpressionHead(min(config.width, config.max_width), k, config.size // 2, config.activation)
                     if config.classify else None)
        if config.he_init:
            he_initialise(self)

    def refine(self, coarse: torch.Tensor, onehot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Step 2 on step 1's images: the refined images and the refiner's first-level features (what the head
        reads). Computes exactly ``self.refiner(coarse, onehot)``, keeping the first level's output."""
        refiner = self.refiner
        if refiner is None:
            raise ValueError("this two-step network has no refinement step (refine is off)")
        first = _first_level_length(refiner.encoder)
        features = refiner.encoder[:first](coarse)
        code = inject(refiner.encoder[first:](features), onehot)
        out = refiner.decoder(code)
        image = (coarse + torch.tanh(out)).clamp(0, 1) if refiner.output == "residual" else torch.sigmoid(out)
        return image, features

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """The head's logits (B, K) for images (B, C, S, S): the refiner's first level, then the head."""
        if self.head is None or self.refiner is None:
            raise ValueError("this two-step network has no classification head (classify is off)")
        return self.head(self.refiner.encoder[:_first_level_length(self.refiner.encoder)](images))

    def forward(self, images: torch.Tensor, onehot: torch.Tensor) -> TwoStepOutput:
        """Step 1, then (with refinement) step 2 and the head on step 2's first level."""
        coarse = self.generate(images, onehot)
        if self.refiner is None:
            return TwoStepOutput(coarse, coarse, None)
        image, features = self.refine(coarse, onehot)
        return TwoStepOutput(image, coarse, self.head(features) if self.head is not None else None)
