"""The appearance step: what a warp cannot do, corrected inside the face only.

A warp moves the person's own pixels; it cannot hide teeth behind lips that
close, flatten a smile's cheek folds or brighten an eye that opens again. The
appearance step learns that from the pairs: masked regression (per-pixel ridge
over a 3 x 3 neighbourhood, :mod:`facexpr.models.masked_regression`) of the
residual (target - warped input) from the warped input, so that its ridge
penalty shrinks towards no correction rather than towards an average face.
Only the low-frequency part of its correction is kept (a Gaussian of ``sigma`` pixels): the regression averages over people,
so its fine detail is blur, while its coarse correction (teeth -> lips, fold
shading, the tone of the skin) is what the expression changed. The correction
is applied through the caller's soft mask of the face inside jaw and brows
(:func:`~facexpr.models.geometric.warp.face_region_mask`, built once per batch
for this step and the refiner): outside it, the output is the warped crop
exactly (and the warp pins the border).

A step learnt from grey photos (``luma``: any of its pairs grey, e.g. Yale
beside FRL London) corrects brightness only: it is fitted on the luma of
the crops and adds one correction to every channel. Fitted on grey photos,
the per-pixel regression pulls each channel towards the same grey level,
which would turn colour faces grey.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from facexpr.io import as_channels
from facexpr.models.masked_regression import (
    EgoOptions,
    MaskedRegression,
    ReceptiveField,
)

#: The regression predicts the residual (target - warped) plus this offset: masked regression clamps its
#: outputs to [0, 1], and residuals lie in [-0.5, 0.5] but for rare extremes.
RESIDUAL_OFFSET = 0.5


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Images (B, C, H, W) float32 blurred by a Gaussian of ``sigma`` pixels, borders replicated (OpenCV:
    several times faster on a CPU than a separable conv2d)."""
    array = images.detach().contiguous().float().cpu().numpy().reshape(-1, *images.shape[-2:])
    out = np.empty_like(array)
    for plane, target in zip(array, out):
        cv2.GaussianBlur(plane, (0, 0), sigma, dst=target, borderType=cv2.BORDER_REPLICATE)
    return torch.from_numpy(out.reshape(images.shape))


class Appearance:
    """Masked low-frequency correction of warped crops towards one target expression.

    Args:
        regression: masked regression from warped crops to their residual plus :data:`RESIDUAL_OFFSET` (ego off).
        sigma: Gaussian smoothing of the correction in pixels (0: keep all of it).
        luma: the regression reads and corrects the crops' luma, the correction added to every channel.
    """

    def __init__(self, regression: MaskedRegression, sigma: float, luma: bool = False):
        self.regression = regression
        self.sigma = float(sigma)
        self.luma = luma

    @classmethod
    def fit(cls, warped: torch.Tensor, targets: torch.Tensor, lam: float, sigma: float, expression: str,
            luma: bool = False) -> "Appearance":
        """Fit the regression on warped crops and their targets, (n, C, S, S) each (on their luma with ``luma``)."""
        if luma:
            warped, targets = as_channels(warped, 1), as_channels(targets, 1)
        residuals = targets - warped + RESIDUAL_OFFSET
        regression = MaskedRegression.fit_batches(
            [(warped, residuals)], "any", expression, ReceptiveField(3, 1), lam, "tuple", EgoOptions(False))
        return cls(regression, sigma, luma)

    def correction(self, warped: torch.Tensor) -> torch.Tensor:
        """The smoothed correction (B, C, S, S) the regression asks for."""
        source = as_channels(warped, 1) if self.luma else warped
        correction = self.regression.predict(source.unsqueeze(1)) - RESIDUAL_OFFSET
        if self.sigma > 0:
            correction = gaussian_blur(correction, self.sigma)
        return correction.expand(-1, warped.shape[1], -1, -1) if self.luma else correction

    def __call__(self, warped: torch.Tensor, mask: torch.Tensor, amount: float | torch.Tensor = 1.0) -> torch.Tensor:
        """Corrected crops: ``warped + amount * mask * correction``, ``mask`` (B, 1, S, S) in [0, 1], ``amount`` one
        number or one per crop (B,)."""
        amount = torch.as_tensor(amount, dtype=warped.dtype).reshape(-1, 1, 1, 1)
        if not amount.any():
            return warped
        return (warped + amount * mask.to(warped.dtype) * self.correction(warped)).clamp(0.0, 1.0)

    def tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        """The regression weights (G, K + 1, S, S) under ``prefix.weights``."""
        return {f"{prefix}.weights": self.regression.weights}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], prefix: str, channels: int, sigma: float,
                     expression: str, luma: bool = False) -> "Appearance":
        """Inverse of :meth:`tensors` (KeyError when the weights are missing)."""
        regression = MaskedRegression(tensors[f"{prefix}.weights"].float(), ReceptiveField(3, 1),
                                      1 if luma else channels, "tuple", "any", expression, EgoOptions(False))
        return cls(regression, sigma, luma)
