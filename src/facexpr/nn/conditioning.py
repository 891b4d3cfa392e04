"""Feeding a condition (a one-hot class or an attribute vector) to a convolutional network.

A condition (B, K) enters a network either at its input, tiled as K constant
planes next to the image channels (conditional GANs, the two-step CNN), or at
its bottleneck, next to the code the decoder reads (Fader networks).
"""

from __future__ import annotations

import torch


def tile_planes(vector: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """A vector (B, K) as K constant planes (B, K, height, width): plane k holds ``vector[:, k]`` at every pixel."""
    if vector.dim() != 2:
        raise ValueError(f"expected a (batch, K) vector, got shape {tuple(vector.shape)}")
    return vector[:, :, None, None].expand(-1, -1, height, width)


def concat_planes(images: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    """Images (B, C, H, W) with a vector (B, K) tiled after their channels: (B, C + K, H, W)."""
    planes = tile_planes(vector.to(images.dtype), images.shape[-2], images.shape[-1])
    return torch.cat([images, planes], dim=1)


def inject(features: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    """A vector (B, K) appended to a bottleneck: to flat features (B, F) -> (B, F + K), to a map (B, C, H, W) as planes.

    Appending (rather than adding) leaves the code untouched, so the decoder
    can tell the code from the condition.
    """
    if features.dim() == 2:
        return torch.cat([features, vector.to(features.dtype)], dim=1)
    if features.dim() == 4:
        return concat_planes(features, vector)
    raise ValueError(f"expected flat features (B, F) or a feature map (B, C, H, W), got shape {tuple(features.shape)}")
