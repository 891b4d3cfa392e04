"""Receptive-field geometry of masked regression: which input pixels an output pixel looks at.

Output pixel ``i = (row, col)`` looks at the ``r x r`` input pixels
``i + dilation * (u - (r - 1) / 2, v - (r - 1) / 2)`` for ``u, v = 0 .. r - 1``
(row-major order: offset ``k = u * r + v``). Neighbourhoods that reach past the
image border read *replicated* border pixels (the input is padded with
``pad = dilation * (r - 1) / 2`` copies of its edge rows and columns), so every
pixel, border or not, has the same ``r * r`` inputs and its own weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class ReceptiveField:
    """An ``r x r`` neighbourhood (``r`` odd) whose taps are ``dilation`` pixels apart."""

    r: int = 3
    dilation: int = 1

    def __post_init__(self) -> None:
        """Reject even or non-positive sizes and dilations (the neighbourhood must have a centre)."""
        if self.r < 1 or self.r % 2 == 0:
            raise ValueError(f"the receptive field side r must be a positive odd number, got {self.r}")
        if self.dilation < 1:
            raise ValueError(f"the dilation must be at least 1, got {self.dilation}")

    @property
    def taps(self) -> int:
        """Number of input pixels per output pixel, ``r * r``."""
        return self.r * self.r

    @property
    def pad(self) -> int:
        """Border replicated on every side so that every neighbourhood lies inside the padded image."""
        return self.dilation * (self.r - 1) // 2

    @property
    def offsets(self) -> list[tuple[int, int]]:
        """The ``(d_row, d_col)`` of every tap relative to the output pixel, row-major."""
        half = (self.r - 1) // 2
        steps = [self.dilation * (u - half) for u in range(self.r)]
        return [(dy, dx) for dy in steps for dx in steps]

    def padded(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` (B, C, H, W) with ``pad`` replicated border pixels on each side."""
        if self.pad == 0:
            return images
        return F.pad(images, (self.pad,) * 4, mode="replicate")

    def window(self, padded: torch.Tensor, offset: tuple[int, int], height: int, width: int) -> torch.Tensor:
        """The (…, H, W) view of a padded stack whose pixel ``i`` is the input at ``i + offset``."""
        top, left = self.pad + offset[0], self.pad + offset[1]
        return padded[..., top:top + height, left:left + width]


def apply_local_linear(images: torch.Tensor, weights: torch.Tensor, field: ReceptiveField) -> torch.Tensor:
    """``y_i = sum_k w_ik x_(i + offset_k) + b_i`` for every pixel, without building any D x D matrix.

    ``images`` is (B, C, H, W); ``weights`` is (G, K + 1, H, W) with the bias
    last, G = 1 (one weight set shared by all channels: the colour-tuple model)
    or G = C (one per channel). Returns (B, C, H, W) in the input's dtype.
    """
    batch, channels, height, width = images.shape
    groups = weights.shape[0]
    if groups not in (1, channels):
        raise ValueError(f"weights for {groups} channel set(s) cannot map {channels}-channel images")
    if weights.shape[1] != field.taps + 1 or tuple(weights.shape[2:]) != (height, width):
        raise ValueError(
            f"weights of shape {tuple(weights.shape)} do not fit {height}x{width} images with r={field.r}"
        )
    padded = field.padded(images)
    # a copy: when the expand changes nothing (one grey image) .contiguous() would hand back the weights themselves
    out = weights[:, -1].expand(batch, channels, height, width).clone(memory_format=torch.contiguous_format)
    for k, offset in enumerate(field.offsets):
        out.addcmul_(field.window(padded, offset, height, width), weights[:, k])
    return out
