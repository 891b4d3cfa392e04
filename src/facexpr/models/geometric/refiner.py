"""The refiner: a small U-Net's smooth change of brightness inside the face, after the appearance step.

The appearance step is a per-pixel linear regression averaged over people:
it closes the teeth behind the lips and evens the tone, but it cannot
learn what makes a face read as neutral (or as the target expression) to
a viewer. The refiner learns that from the same pairs
(:mod:`facexpr.training.geometric_refine`): L1 to the person's target photo
plus the differentiable FER judge's p(target expression), the judge seeing
jittered copies (flips, shifts, small turns) so that only a change that
holds under them pays.

What it may change is narrow on purpose, so that it cannot paint patterns
that fool one network instead of changing the face:

* brightness only (the judge sees grey; colour stays the appearance step's),
* computed at half resolution and smoothed by a Gaussian (``sigma`` pixels),
  so it shades (lip line, cheek folds, the mouth's corners) and never adds
  texture,
* inside the soft face mask of the predicted landmarks; outside it the
  output is the warped crop exactly.

Its U-Net's output convolution starts at zero: an untrained refiner changes nothing.
"""

from __future__ import annotations

import kornia
import torch
import torch.nn.functional as F
from torch import nn

from facexpr.io import as_channels
from facexpr.models.geometric.appearance import gaussian_blur
from facexpr.nn.unet import UNet

#: Halvings of the refiner's U-Net (it runs at half the crop size, so crops must be multiples of 2 ** (DEPTH + 1)).
DEPTH = 3
#: Channels of the U-Net at its (half) resolution; they double per level up to eight times this.
WIDTH = 8


def refinable(size: int) -> bool:
    """Whether crops of ``size`` pixels can be refined (half of it divisible by ``2 ** DEPTH``)."""
    return size % 2 ** (DEPTH + 1) == 0


def smooth(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B, C, S, S) images blurred by a Gaussian of ``sigma`` pixels, borders replicated: kornia's (differentiable)
    while gradients are wanted, OpenCV's (over ten times faster on a CPU, the same up to rounding) otherwise."""
    if sigma <= 0:
        return images
    if torch.is_grad_enabled() and images.requires_grad:
        side = 2 * int(4 * sigma) + 1
        return kornia.filters.gaussian_blur2d(images, (side, side), (sigma, sigma), border_type="replicate")
    return gaussian_blur(images, sigma).to(images.device)


class Refiner(nn.Module):
    """Crops (B, C, S, S) + face masks (B, 1, S, S) -> refined crops (see the module docstring).

    Args:
        sigma: Gaussian smoothing of the change, in pixels of the crop (0: none).
    """

    def __init__(self, sigma: float):
        super().__init__()
        self.sigma = float(sigma)
        self.net = UNet(1, depth=DEPTH, width=WIDTH, max_width=8 * WIDTH, output="residual")

    def change(self, crops: torch.Tensor) -> torch.Tensor:
        """The smooth change of brightness (B, 1, S, S) the U-Net asks for."""
        luma = as_channels(crops, 1)
        half = F.interpolate(luma, scale_factor=0.5, mode="bilinear", antialias=True, align_corners=False)
        change = F.interpolate(self.net(half) - half, size=crops.shape[-2:], mode="bilinear", align_corners=False)
        return smooth(change, self.sigma)

    def forward(self, crops: torch.Tensor, masks: torch.Tensor, amount: float | torch.Tensor = 1.0) -> torch.Tensor:
        """``crops + amount * masks * change`` in every channel, clamped to [0, 1]; ``amount`` is one number or
        one per crop (B,)."""
        amount = torch.as_tensor(amount, dtype=crops.dtype).reshape(-1, 1, 1, 1)
        if not amount.any():
            return crops
        return (crops + amount * masks * self.change(crops)).clamp(0.0, 1.0)

    def tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        """The U-Net's parameters and batch-norm statistics under ``prefix.``."""
        return {f"{prefix}.{name}": value.detach().clone() for name, value in self.net.state_dict().items()}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], prefix: str, sigma: float) -> Refiner:
        """Inverse of :meth:`tensors`, in eval mode (KeyError or RuntimeError when they do not fit)."""
        refiner = cls(sigma)
        state = {name: tensors[f"{prefix}.{name}"] for name in refiner.net.state_dict()}
        refiner.net.load_state_dict(state)
        return refiner.eval().requires_grad_(False)
