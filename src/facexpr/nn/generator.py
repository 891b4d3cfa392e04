"""The image-generation network of the two-step CNN and the conditional DCGAN: an image and a one-hot target
in, the image with that target out (an encoder-decoder without skip connections, as published).

The one-hot enters as constant input planes (``planes``), at the bottleneck
(``bottleneck``) or both. Down- and up-sampling are either the report's
"refinements" (strided convolutions down, transposed convolutions up) or
the original's max-pooling and nearest upsampling. Batch norm follows every
layer but the last; the activation is ReLU or LeakyReLU 0.2.
"""

from __future__ import annotations

import torch
from torch import nn

from facexpr.nn.conditioning import concat_planes, inject

INJECTIONS = ("planes", "bottleneck", "both")
SAMPLINGS = ("strided", "pool")
ACTIVATIONS = ("relu", "lrelu")
GENERATOR_OUTPUTS = ("image", "residual")


def _activation(name: str) -> nn.Module:
    """ReLU or LeakyReLU 0.2."""
    return nn.ReLU() if name == "relu" else nn.LeakyReLU(0.2)


def he_initialise(module: nn.Module) -> None:
    """He (Kaiming) normal initialisation of every convolution and linear layer, biases at zero (the paper's)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class ConditionalEncoderDecoder(nn.Module):
    """Images (B, C, S, S) and a one-hot (B, K) -> images (B, C, S, S) in [0, 1].

    Args:
        channels: image channels.
        classes: length K of the one-hot.
        depth: how many times the encoder halves the image (S divisible by ``2 ** depth``).
        width: channels after the first halving; each further level doubles them up to ``max_width``.
        max_width: channel cap of the deep levels.
        inject: where the one-hot enters: ``planes`` (tiled at the input), ``bottleneck`` or ``both``.
        sampling: ``strided`` (strided and transposed convolutions) or ``pool`` (max-pool, nearest upsampling).
        activation: ``relu`` or ``lrelu`` (LeakyReLU 0.2).
        output: ``image`` (a sigmoid) or ``residual`` (a tanh change added to the input and clamped: the
            network changes only where it needs to).
    """

    def __init__(self, channels: int = 3, classes: int = 7, depth: int = 4, width: int = 32, max_width: int = 256,
                 inject: str = "planes", sampling: str = "strided", activation: str = "lrelu", output: str = "image"):
        super().__init__()
        for name, value, allowed in (("inject", inject, INJECTIONS), ("sampling", sampling, SAMPLINGS),
                                     ("activation", activation, ACTIVATIONS), ("output", output, GENERATOR_OUTPUTS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        if depth < 1 or classes < 1:
            raise ValueError(f"depth and classes must be at least 1, got {depth} and {classes}")
        self.depth, self.classes, self.inject, self.output = depth, classes, inject, output
        widths = [min(width * 2**level, max_width) for level in range(depth)]
        cin = channels + (classes if inject in ("planes", "both") else 0)
        down: list[nn.Module] = []
        for cout in widths:
            if sampling == "strided":
                down += [nn.Conv2d(cin, cout, 4, stride=2, padding=1, bias=False)]
            else:
                down += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.MaxPool2d(2)]
            down += [nn.BatchNorm2d(cout), _activation(activation)]
            cin = cout
        self.encoder = nn.Sequential(*down)
        cin = widths[-1] + (classes if inject in ("bottleneck", "both") else 0)
        up: list[nn.Module] = []
        for level in range(depth - 1, 0, -1):
            cout = widths[level - 1]
            up += _upsample(cin, cout, sampling) + [nn.BatchNorm2d(cout), _activation(activation)]
            cin = cout
        up += _upsample(cin, channels, sampling)  # the last layer: no batch norm
        self.decoder = nn.Sequential(*up)

    def forward(self, images: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """The images with the one-hot's expression."""
        if images.shape[-1] % 2**self.depth or images.shape[-2] % 2**self.depth:
            raise ValueError(f"image sides must be divisible by {2**self.depth}, got {tuple(images.shape[-2:])}")
        if onehot.shape != (images.shape[0], self.classes):
            raise ValueError(f"expected a one-hot of shape ({images.shape[0]}, {self.classes}), got {tuple(onehot.shape)}")
        x = concat_planes(images, onehot) if self.inject in ("planes", "both") else images
        code = self.encoder(x)
        if self.inject in ("bottleneck", "both"):
            code = inject(code, onehot)
        out = self.decoder(code)
        if self.output == "residual":
            return (images + torch.tanh(out)).clamp(0, 1)
        return torch.sigmoid(out)


def _upsample(cin: int, cout: int, sampling: str) -> list[nn.Module]:
    """Double the side: a transposed convolution, or nearest upsampling then a 3x3 convolution."""
    if sampling == "strided":
        return [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)]
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1)]
