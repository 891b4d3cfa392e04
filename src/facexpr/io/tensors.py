"""Crops between the two forms facexpr handles (uint8 arrays as written to PNG, float tensors for models);
weights written as safetensors."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch
from safetensors.torch import save

from facexpr.io.images import write_bytes_atomic


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
