"""What the on-warp variant refines: the geometric model's neutralized face and its face mask, at any size."""

from __future__ import annotations

import torch

from facexpr.models.base import resize_to
from facexpr.models.geometric import (
    GeometricModel,
    face_region_mask,
    to_crop_units,
    to_pixels,
)


def warp_base(geometric: GeometricModel, crops: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The geometric model's neutral faces of (B, C, S, S) crops in [0, 1] and soft masks of the face region at
    their predicted neutral landmarks, both at ``size`` on the crops' device: (B, C, size, size), (B, 1, size, size).

    The crops are resized to the geometric model's own size first (its appearance step is per pixel), so it
    finds the landmarks itself; no gradient flows through it.

    Raises:
        ValueError: the crops' channels are not the geometric model's.
    """
    if crops.shape[1] != geometric.channels:
        raise ValueError(f"the geometric model takes {geometric.channels}-channel crops, got {crops.shape[1]}")
    explained = geometric.explain(resize_to(crops.detach().float(), geometric.size).unsqueeze(1))
    base = resize_to(explained["output"], size).to(crops.device)
    goal = to_pixels(to_crop_units(explained["goal"], geometric.size), size)
    return base, face_region_mask(goal, size).to(crops.device)
