"""Blending a generated image with a photo: a mask (and displacement) head, and the warp that applies a displacement.

A decoder's output is blurred where a photo is sharp; these blocks let a
network keep the photo wherever the generated image need not differ, and move
the photo's pixels (rather than repaint them) where it must.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaskHead(nn.Module):
    """A small convolutional head: (photo, decoded face) -> mask logit and ``flow`` displacement channels.

    It works at a quarter of the resolution (the regions an expression moves
    are large and smooth) and upsamples bilinearly. Its last bias starts at
    zero, so the first mask is 0.5 everywhere; with ``flow`` its last weights
    too, so the first displacement is 0.
    """

    def __init__(self, channels: int, width: int, flow: bool = False):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(2 * channels, width, 3, stride=2, padding=1), nn.ELU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ELU(),
            nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.ELU(),
            nn.Conv2d(width, 3 if flow else 1, 3, padding=1),
        )
        nn.init.zeros_(self.body[-1].bias)
        if flow:
            nn.init.zeros_(self.body[-1].weight)

    def forward(self, photo: torch.Tensor, decoded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The mask (B, 1, S, S) in (0, 1) and, with ``flow``, the displacement (B, S, S, 2) in grid units."""
        out = self.body(torch.cat([photo, decoded], dim=1))
        out = F.interpolate(out, size=decoded.shape[-2:], mode="bilinear", align_corners=False)
        flow = out[:, 1:].permute(0, 2, 3, 1) if out.shape[1] > 1 else None
        return torch.sigmoid(out[:, :1]), flow


def warp(images: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``images`` (B, C, S, S) resampled at the identity grid plus ``flow`` (B, S, S, 2), in [-1, 1] grid units."""
    identity = torch.eye(2, 3, dtype=images.dtype, device=images.device).expand(images.shape[0], 2, 3)
    grid = F.affine_grid(identity, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid + flow, mode="bilinear", padding_mode="border", align_corners=False)
