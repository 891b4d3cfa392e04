"""A small U-Net: image-to-image with skip connections, optionally conditioned on a vector or extra planes."""

from __future__ import annotations

import torch
from torch import nn

from facexpr.nn.conditioning import concat_planes

OUTPUTS = ("image", "residual")


def _norm(channels: int, batch_norm: bool) -> nn.Module:
    """Batch norm over ``channels``, or nothing."""
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


class UNet(nn.Module):
    """Images (B, C, S, S) -> images (B, C_out, S, S), with S divisible by ``2 ** depth``.

    A 3x3 stem, then ``depth`` 4x4 stride-2 convolutions down (LeakyReLU 0.2)
    and as many 4x4 stride-2 transposed convolutions up (ReLU); every level
    up is concatenated with the map of the same size on the way down, so
    details the bottleneck loses come back through the skips. A 3x3
    convolution makes the output.

    Args:
        in_channels: image channels.
        out_channels: output channels (default ``in_channels``; must equal it for ``output="residual"``).
        depth: how many times the input is halved.
        width: channels at full resolution; each level down doubles them, up to ``max_width``.
        max_width: channel cap of the deep levels.
        condition_channels: extra input channels: a vector (B, K) tiled as planes or maps (B, K, S, S).
        output: ``image`` (a sigmoid, so in [0, 1]) or ``residual`` (added to the input; the last
            convolution starts at zero, so an untrained network is the identity).
        batch_norm: batch norm after every convolution but the stem's and the output's.
    """

    def __init__(self, in_channels: int = 3, out_channels: int | None = None, depth: int = 3, width: int = 32,
                 max_width: int = 256, condition_channels: int = 0, output: str = "image", batch_norm: bool = True):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
        if output == "residual" and out_channels != in_channels:
            raise ValueError("a residual output needs out_channels == in_channels")
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.depth, self.output, self.condition_channels = depth, output, condition_channels
        channels = [min(width * 2**level, max_width) for level in range(depth + 1)]
        self.stem = nn.Sequential(nn.Conv2d(in_channels + condition_channels, channels[0], 3, padding=1),
                                  nn.LeakyReLU(0.2))
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels[level], channels[level + 1], 4, stride=2, padding=1, bias=not batch_norm),
                          _norm(channels[level + 1], batch_norm), nn.LeakyReLU(0.2))
            for level in range(depth))
        self.up = nn.ModuleList(
            nn.Sequential(
                nn.ConvTranspose2d(channels[level] * (1 if level == depth else 2), channels[level - 1], 4, stride=2,
                                   padding=1, bias=not batch_norm),
                _norm(channels[level - 1], batch_norm), nn.ReLU())
            for level in range(depth, 0, -1))
        self.head = nn.Conv2d(2 * channels[0], out_channels, 3, padding=1)
        if output == "residual":
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def forward(self, images: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """The output image; ``condition`` (B, K) or (B, K, S, S) is required iff ``condition_channels`` > 0."""
        if images.shape[-1] % 2**self.depth or images.shape[-2] % 2**self.depth:
            raise ValueError(f"image sides must be divisible by {2**self.depth}, got {tuple(images.shape[-2:])}")
        if (condition is None) != (self.condition_channels == 0):
            raise ValueError(f"this U-Net takes {self.condition_channels} condition channels")
        x = images
        if condition is not None:
            x = concat_planes(x, condition) if condition.dim() == 2 else torch.cat([x, condition], dim=1)
        skips = [self.stem(x)]
        for block in self.down:
            skips.append(block(skips[-1]))
        h = skips.pop()
        for block in self.up:
            h = torch.cat([block(h), skips.pop()], dim=1)
        out = self.head(h)
        return images + out if self.output == "residual" else torch.sigmoid(out)
