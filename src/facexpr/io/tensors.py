"""Crops between the two forms facexpr handles (uint8 arrays as written to PNG, float tensors for models);
weights written as safetensors."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch
from safetensors.torch import save

from facexpr.io.images import write_bytes_atomic

#: ITU-R BT.601 luma weights of R, G, B (OpenCV's RGB2GRAY, which fer uses): how a colour crop becomes grey.
LUMA = (0.299, 0.587, 0.114)


def as_channels(crops: torch.Tensor, channels: int) -> torch.Tensor:
    """Crops (..., C, H, W) with ``channels`` channels: RGB to grey by luma, grey to RGB by repetition,
    unchanged when they already have them.

    Raises:
        ValueError: crops or a request other than 1 or 3 channels.
    """
    have = crops.shape[-3]
    if have == channels:
        return crops
    if have == 3 and channels == 1:
        weights = crops.new_tensor(LUMA).view(3, 1, 1)
        return (crops * weights).sum(-3, keepdim=True)
    if have == 1 and channels == 3:
        return crops.expand(*crops.shape[:-3], 3, *crops.shape[-2:])
    raise ValueError(f"expected crops with 1 or 3 channels and a request for 1 or 3, got {have} and {channels}")


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Images (..., C, H, W) in [0, 1] -> uint8 (..., H, W, C), or (..., H, W) for one channel, as written to PNG."""
    array = (images.detach().clamp(0, 1) * 255.0).round().to(torch.uint8).movedim(-3, -1).cpu().numpy()
    return array[..., 0] if array.shape[-1] == 1 else array


def from_uint8(images: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
    """uint8 images of one size, (H, W) or (H, W, C) each (a list, or a (B, ...) array) -> (B, C, H, W) in [0, 1]."""
    arrays = np.stack([image[:, :, None] if image.ndim == 2 else image for image in images])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).float() / 255.0


def save_tensors_atomic(path: str | os.PathLike, tensors: dict[str, torch.Tensor],
                        metadata: dict[str, str] | None = None) -> None:
    """Write named tensors as safetensors (loadable without executing code), atomically."""
    write_bytes_atomic(path, save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata=metadata))
