"""The shape model: where a face's 68 landmarks would sit in another expression.

Shapes are the 68 dlib landmarks of an aligned crop in *crop units*: pixel
coordinates ``p`` (pixel centres at integers) become ``(p + 0.5) / size``, so
a shape does not depend on the crop size and every crop's eyes sit at the
alignment template's place. An expression moves the mouth, cheeks, brows and
eyelids relative to that frame; :class:`ShapeMap` predicts that movement.

A :class:`ShapeMap` is ridge regression of the displacement (target shape minus
input shape, 136 numbers) from the input shape, optionally through its first
``components`` principal directions (a PCA shape space). It is person-
independent and needs no expression label: trained on every expressive crop ->
the same person's neutral crop (and neutral -> neutral, which teaches it to
leave a neutral face alone), it reads the expression off the shape itself.
A linear map cannot both leave every neutral face exactly in place and move
subtle expressions: it moves neutral faces a little (towards the average
neutral shape, more on a population it was not trained on). Its ``threshold``
treats predicted movements well below it as landmark noise and scales them
down (a soft dead zone, chosen by cross-validation with the ridge penalty).

:func:`implausible_reason` rejects landmark sets that cannot belong to an
aligned face (a detector that locked onto hair, a blank crop).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from facexpr.faces.align import TEMPLATE_EYE_MIDPOINT, TEMPLATE_IOD_FRACTION
from facexpr.judges.geometry import landmark_error

POINTS = 68
#: Largest distance (crop units) of a detected eye centre from the alignment template's (6.4 px at 128 px).
MAX_EYE_OFFSET = 0.05
#: Accepted inter-ocular distance, as a ratio to the template's.
IOD_RATIO_RANGE = (0.75, 1.3)
#: Landmarks may lie a little outside the crop (a chin at the bottom edge), not far.
COORDINATE_RANGE = (-0.1, 1.1)


def to_crop_units(landmarks: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """Pixel landmarks (..., 68, 2) of a ``size`` px crop -> crop units (float32 tensor)."""
    return (torch.as_tensor(np.asarray(landmarks), dtype=torch.float32) + 0.5) / size


def to_pixels(shapes: torch.Tensor, size: int) -> torch.Tensor:
    """Crop units (..., 68, 2) -> pixel coordinates of a ``size`` px crop."""
    return shapes * size - 0.5


def implausible_reason(shape: np.ndarray | torch.Tensor) -> str | None:
    """Why a (68, 2) crop-unit shape cannot be an aligned face's landmarks, or None when it can.

    Checks: finite; inside the crop (with a margin); eye centres near the
    alignment template and a plausible inter-ocular distance; brows above the
    eyes, eyes above the nose tip, nose tip above the mouth.
    """
    points = np.asarray(shape, dtype=np.float64)
    if points.shape != (POINTS, 2):
        return f"expected 68 landmarks, got an array of shape {points.shape}"
    if not np.isfinite(points).all():
        return "landmarks are not finite"
    low, high = COORDINATE_RANGE
    if points.min() < low or points.max() > high:
        return "landmarks lie outside the crop"
    eyes = np.stack([points[36:42].mean(axis=0), points[42:48].mean(axis=0)])
    template_half = TEMPLATE_IOD_FRACTION / 2
    template = np.array([[TEMPLATE_EYE_MIDPOINT[0] - template_half, TEMPLATE_EYE_MIDPOINT[1]],
                         [TEMPLATE_EYE_MIDPOINT[0] + template_half, TEMPLATE_EYE_MIDPOINT[1]]])
    offset = np.linalg.norm(eyes - template, axis=1).max()
    if offset > MAX_EYE_OFFSET:
        return f"eye centres {offset:.3f} crop units from the alignment template (the crop is not an aligned face)"
    ratio = np.linalg.norm(eyes[1] - eyes[0]) / TEMPLATE_IOD_FRACTION
    if not IOD_RATIO_RANGE[0] <= ratio <= IOD_RATIO_RANGE[1]:
        return f"inter-ocular distance {ratio:.2f} x the template's"
    brows, eye_y = points[17:27, 1].mean(), eyes[:, 1].mean()
    nose, mouth = points[30, 1], points[48:68, 1].mean()
    if not brows < eye_y < nose < mouth:
        return "brows, eyes, nose and mouth are not in top-to-bottom order"
    return None


@dataclass
class ShapeMap:
    """Ridge regression of the landmark displacement from the landmarks: ``d = (x - mean) @ weight + bias``,
    softly thresholded.

    Attributes:
        mean: (136,) mean input shape of the training pairs.
        weight: (136, 136) regression weights.
        bias: (136,) mean displacement.
        threshold: inter-ocular units; a displacement of size ``m`` (mean inner-landmark movement over the
            input's inter-ocular distance) is scaled by ``1 - exp(-(m / threshold) ** 2)`` (0: not scaled).
    """

    mean: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor
    threshold: float = 0.0

    def linear_displacement(self, shapes: torch.Tensor) -> torch.Tensor:
        """The regression's displacement (B, 68, 2) of crop-unit shapes (B, 68, 2), before the threshold."""
        flat = shapes.reshape(shapes.shape[0], -1).float()
        return ((flat - self.mean) @ self.weight + self.bias).reshape(shapes.shape)

    def displacement(self, shapes: torch.Tensor) -> torch.Tensor:
        """Predicted displacement (B, 68, 2) of crop-unit shapes (B, 68, 2)."""
        return soft_threshold(shapes, self.linear_displacement(shapes), self.threshold)

    def __call__(self, shapes: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
        """The shapes moved ``strength`` times the predicted displacement (1: the target expression)."""
        return shapes + strength * self.displacement(shapes)

    def tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        """The map's tensors under ``prefix.`` names, for safetensors."""
        return {f"{prefix}.mean": self.mean, f"{prefix}.weight": self.weight, f"{prefix}.bias": self.bias,
                f"{prefix}.threshold": torch.tensor([self.threshold], dtype=torch.float32)}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], prefix: str) -> "ShapeMap":
        """Inverse of :meth:`tensors` (KeyError when a tensor is missing; maps saved without a threshold
        have none)."""
        threshold = tensors.get(f"{prefix}.threshold")
        return cls(*(tensors[f"{prefix}.{name}"].float() for name in ("mean", "weight", "bias")),
                   threshold=0.0 if threshold is None else float(threshold.reshape(-1)[0]))


def soft_threshold(shapes: torch.Tensor, displacement: torch.Tensor, threshold: float) -> torch.Tensor:
    """``displacement`` (B, 68, 2) of ``shapes`` scaled by ``1 - exp(-(m / threshold) ** 2)``, ``m`` its size in
    inter-ocular units: movements far below ``threshold`` (landmark noise on a neutral face) vanish, large ones
    (an expression) pass almost whole. ``threshold`` 0 returns the displacement as it is."""
    if threshold <= 0:
        return displacement
    size = np.atleast_1d(landmark_error((shapes + displacement).detach().cpu().numpy(), shapes.detach().cpu().numpy()))
    scale = 1.0 - torch.exp(-torch.as_tensor(size / threshold, dtype=torch.float32) ** 2)
    return displacement * scale.reshape(-1, 1, 1)


def fit_shape_map(
    sources: torch.Tensor, targets: torch.Tensor, alpha: float = 1.0, components: int | None = None
) -> ShapeMap:
    """Ridge regression of ``targets - sources`` on ``sources`` (both (n, 68, 2) crop units), in closed form.

    ``alpha`` weighs the squared weights against the squared error summed over
    the pairs, in crop units squared (so, as for masked regression, its best
    value barely depends on the number of pairs). With ``components`` the
    centred shapes are first projected on that many principal directions: a
    PCA shape space in which a few numbers describe a face's expression and
    build, and the rest (landmark noise) is ignored.

    Raises:
        ValueError: no pairs, mismatched shapes, non-positive alpha or components.
    """
    if sources.shape != targets.shape or sources.ndim != 3 or sources.shape[1:] != (POINTS, 2):
        raise ValueError(f"sources and targets must be matching (n, 68, 2) shapes, got {tuple(sources.shape)} "
                         f"and {tuple(targets.shape)}")
    if len(sources) == 0:
        raise ValueError("no landmark pair to fit the shape model on")
    if not alpha > 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    x = sources.reshape(len(sources), -1).double()
    y = (targets - sources).reshape(len(sources), -1).double()
    mean, bias = x.mean(dim=0), y.mean(dim=0)
    xc, yc = x - mean, y - bias
    basis = torch.eye(x.shape[1], dtype=torch.float64)
    if components is not None:
        if components < 1:
            raise ValueError(f"components must be positive, got {components}")
        _, _, vh = torch.linalg.svd(xc, full_matrices=False)
        basis = vh[:components].T
    z = xc @ basis
    gram = z.T @ z + alpha * torch.eye(z.shape[1], dtype=torch.float64)
    weight = basis @ torch.linalg.solve(gram, z.T @ yc)
    return ShapeMap(mean.float(), weight.float(), bias.float())
