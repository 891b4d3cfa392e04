"""Dense warps of aligned crops from their landmarks to new landmarks, and face-region masks.

:func:`tps_warp` moves what lies at the source landmarks of each crop onto the
target landmarks with a thin-plate spline (the smoothest interpolating warp in
the bending-energy sense), batched in torch. Points on the crop border are
pinned, so the hair, the background and the crop's edges do not move. The
spline is solved with a small ridge term, which keeps it well-posed when
landmarks coincide (the inner lips of a closed mouth), and raised just enough
where the exact spline would fold over itself (a smile's open mouth closing:
:data:`SMOOTHING_LADDER`). It is evaluated on a lattice every 3 pixels and
upsampled bicubically (a tenth of a pixel from the exact spline at the
landmarks on average, as the 2-pixel lattice with bilinear upsampling was, at
less than half the cost), then the crop is resampled once
with ``grid_sample``: the warp keeps the person's own pixels, so a warped crop
stays as sharp as the input.

Coordinates: landmarks are in crop pixels with pixel centres at integers;
internally they are mapped to ``grid_sample``'s [-1, 1] frame
(``align_corners=False``).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

#: Pinned points per crop side (corners included).
ANCHORS_PER_SIDE = 9
#: Ridge term of the spline in [-1, 1] units: it keeps the spline well-posed when two landmarks coincide
#: and lets it miss a landmark by well under a pixel.
REGULARIZATION = 1e-5
#: Ridge terms tried in turn until a warp does not fold (:data:`MIN_JACOBIAN`): an exact spline folds
#: when a smile's open mouth closes (inner lips meet over the teeth), a smoother one does not.
SMOOTHING_LADDER = (REGULARIZATION, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2)
#: If even the smoothest spline folds (a landmark moving within the border band), its displacement is
#: scaled down by these factors in turn (0: no warp).
FOLD_SCALES = (0.75, 0.5, 0.25, 0.0)
#: Smallest accepted Jacobian determinant of a warp (1: no local change of area).
MIN_JACOBIAN = 0.1
#: Width of the border taper as a fraction of the crop side (see :func:`border_taper`).
TAPER = 1 / 16
#: Spacing (pixels) of the lattice the spline is evaluated on before bicubic upsampling. On 64 FRL London smiles
#: warped to the shipped model's neutral shapes, the warp reads each target landmark 0.10 px from its source on
#: average at 3 px (0.08 at 2 px, 0.13 at 4 px); evaluating the kernel dominates the cost, which falls with the
#: square of the spacing.
LATTICE_SPACING = 3


def to_unit(points: torch.Tensor, size: int) -> torch.Tensor:
    """Pixel coordinates (pixel centres at integers) -> grid_sample's [-1, 1] frame."""
    return (2.0 * points + 1.0) / size - 1.0


def border_anchors(count: int = ANCHORS_PER_SIDE) -> torch.Tensor:
    """(4 * (count - 1), 2) points evenly spaced along the border of the [-1, 1] square, corners once."""
    ticks = torch.linspace(-1.0, 1.0, count, dtype=torch.float64)
    top = torch.stack([ticks[:-1], torch.full_like(ticks[:-1], -1.0)], dim=1)
    right = torch.stack([torch.full_like(ticks[:-1], 1.0), ticks[:-1]], dim=1)
    bottom = torch.stack([ticks.flip(0)[:-1], torch.full_like(ticks[:-1], 1.0)], dim=1)
    left = torch.stack([torch.full_like(ticks[:-1], -1.0), ticks.flip(0)[:-1]], dim=1)
    return torch.cat([top, right, bottom, left])


def _kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The thin-plate kernel U(r) = r^2 log r between point sets (B, N, 2) and (B, M, 2) -> (B, N, M)."""
    squared = torch.baddbmm(a.square().sum(-1, keepdim=True) + b.square().sum(-1).unsqueeze(1), a, b.transpose(1, 2),
                            alpha=-2.0).clamp_(min=0.0)  # |a|^2 + |b|^2 - 2 a.b, without a (B, N, M, 2) temporary
    return torch.special.xlogy(squared, squared).mul_(0.5)  # r^2 log r^2 / 2, 0 at r = 0


def tps_solve(centres: torch.Tensor, values: torch.Tensor, regularization: float = REGULARIZATION) -> torch.Tensor:
    """Coefficients (B, K + 3, 2) of the thin-plate spline taking ``centres`` (B, K, 2) to ``values`` (B, K, 2).

    The spline is ``f(p) = sum_k w_k U(|p - c_k|) + a_0 + A p``; the ridge term
    ``regularization`` is added to the kernel's diagonal.
    """
    batch, count, _ = centres.shape
    kernel = _kernel(centres, centres) + regularization * torch.eye(count, dtype=centres.dtype)
    affine = torch.cat([torch.ones(batch, count, 1, dtype=centres.dtype), centres], dim=2)
    top = torch.cat([kernel, affine], dim=2)
    bottom = torch.cat([affine.transpose(1, 2), torch.zeros(batch, 3, 3, dtype=centres.dtype)], dim=2)
    rhs = torch.cat([values, torch.zeros(batch, 3, 2, dtype=centres.dtype)], dim=1)
    return torch.linalg.solve(torch.cat([top, bottom], dim=1), rhs)


def tps_apply(coefficients: torch.Tensor, centres: torch.Tensor, anchors: torch.Tensor,
              points: torch.Tensor) -> torch.Tensor:
    """Evaluate splines (see :func:`tps_solve`) at ``points`` (P, 2) -> (B, P, 2).

    Their centres are each item's ``centres`` (B, K, 2) followed by ``anchors``
    (A, 2), which every item shares: the kernel between the points and the
    anchors is computed once for the batch.
    """
    batch, count = centres.shape[:2]
    total = count + anchors.shape[0]
    affine = coefficients[:, total].unsqueeze(1) + points @ coefficients[:, total + 1:]
    pinned = _kernel(points.unsqueeze(0), anchors.unsqueeze(0))[0] @ coefficients[:, count:total]
    moving = _kernel(points.unsqueeze(0).expand(batch, -1, -1), centres)
    return torch.baddbmm(affine + pinned, moving, coefficients[:, :count])


def sampling_grid(source: torch.Tensor, target: torch.Tensor, size: int) -> torch.Tensor:
    """grid_sample grid (B, size, size, 2) that moves pixel landmarks ``source`` (B, K, 2) onto ``target``.

    For each output pixel it gives where to read the input: the spline maps
    target positions to source positions (a backward warp, no holes), with the
    border pinned.
    """
    batch = source.shape[0]
    anchors = border_anchors()
    pinned = anchors.unsqueeze(0).expand(batch, -1, -1)
    moving = to_unit(target.double(), size)
    centres = torch.cat([moving, pinned], dim=1)
    values = torch.cat([to_unit(source.double(), size), pinned], dim=1)
    lattice = max(2, size // LATTICE_SPACING + 1)
    edge = 1.0 - 1.0 / size  # the first and last pixel centres
    ticks = torch.linspace(-edge, edge, lattice)
    ys, xs = torch.meshgrid(ticks, ticks, indexing="ij")
    points = torch.stack([xs, ys], dim=-1).reshape(-1, 2)
    coarse = points.unsqueeze(0).expand(batch, -1, -1)
    taper = border_taper(lattice, TAPER * (lattice - 1)).reshape(1, -1, 1)
    mapped = coarse.clone()
    todo, offsets = torch.arange(batch), coarse[:0]
    for regularization in SMOOTHING_LADDER:
        # solved in float64 (the system is badly scaled), evaluated in float32 (errors far below a pixel)
        coefficients = tps_solve(centres[todo], values[todo], regularization).float()
        offsets = (tps_apply(coefficients, moving[todo].float(), anchors.float(), points) - points) * taper
        todo, offsets = _accept(mapped, coarse, todo, offsets, lattice)
        if len(todo) == 0:
            break
    for scale in FOLD_SCALES:  # still folding (a landmark moves within the border band): move less
        if len(todo) == 0:
            break
        todo, offsets = _accept(mapped, coarse, todo, offsets, lattice, scale)
    offset = (mapped - coarse).reshape(batch, lattice, lattice, 2)
    offset = F.interpolate(offset.permute(0, 3, 1, 2), size=(size, size), mode="bicubic", align_corners=True)
    return identity_grid(size) + offset.permute(0, 2, 3, 1)


def _accept(mapped: torch.Tensor, coarse: torch.Tensor, todo: torch.Tensor, offsets: torch.Tensor, lattice: int,
            scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Write ``coarse + scale * offsets`` into ``mapped`` for the items ``todo``; return those that still fold
    (Jacobian below :data:`MIN_JACOBIAN`) with their offsets."""
    mapped[todo] = coarse[todo] + scale * offsets
    folded = min_jacobian(mapped[todo].reshape(-1, lattice, lattice, 2)) < MIN_JACOBIAN
    return todo[folded], offsets[folded]


def min_jacobian(mapped: torch.Tensor) -> torch.Tensor:
    """Smallest Jacobian determinant (B,) of mappings sampled on a regular lattice (B, L, L, 2), relative to the
    identity's: below 0 the warp folds over itself (content mirrored), near 0 it crushes a region to a line."""
    along_x = mapped[:, :-1, 1:] - mapped[:, :-1, :-1]
    along_y = mapped[:, 1:, :-1] - mapped[:, :-1, :-1]
    step = 2.0 / (mapped.shape[1] - 1)
    determinant = along_x[..., 0] * along_y[..., 1] - along_x[..., 1] * along_y[..., 0]
    return determinant.flatten(1).min(dim=1).values / step ** 2


def border_taper(size: int, width: float) -> torch.Tensor:
    """(size, size) weights: 0 on the outermost samples, rising smoothly to 1 within ``width`` samples of the side.

    The pinned anchors hold the spline near the border; the taper makes the
    outermost ring of pixels read exactly itself.
    """
    width = max(1.0, width)
    distance = torch.minimum(torch.arange(size), torch.arange(size).flip(0)).float()
    ramp = (distance / width).clamp(0, 1)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep
    return ramp[:, None] * ramp[None, :]


def tps_warp(images: torch.Tensor, source: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Warp square crops (B, C, S, S) so that pixel landmarks ``source`` (B, K, 2) move onto ``target``.

    Returns the warped crops and the per-pixel displacement magnitude (B, S, S)
    in pixels (how far each output pixel's content travelled: a confidence cue
    when several warped photos are merged).
    """
    return apply_grid(images, sampling_grid(source, target, images.shape[-1]))


def apply_grid(images: torch.Tensor, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample crops (B, C, S, S) through a :func:`sampling_grid` (bicubic); returns them and how far each
    output pixel's content travelled (B, S, S), in pixels."""
    size = images.shape[-1]
    warped = F.grid_sample(images, grid.to(images.dtype), mode="bicubic", padding_mode="border", align_corners=False)
    travel = (grid - identity_grid(size)).norm(dim=-1) * size / 2.0
    return warped, travel


def identity_grid(size: int) -> torch.Tensor:
    """(1, S, S, 2) grid_sample grid that reads every pixel from itself."""
    pixels = torch.linspace(-1.0 + 1.0 / size, 1.0 - 1.0 / size, size)
    ys, xs = torch.meshgrid(pixels, pixels, indexing="ij")
    return torch.stack([xs, ys], dim=-1).unsqueeze(0)


#: Outlines for :func:`face_region_mask`: the whole face (jaw 0-16, then the brows right to left, lifted) or
#: the lower face (jaw, closed through the middle of the nose: mouth, chin and cheeks; eyes and brows left out).
REGIONS = {"face": list(range(17)) + list(range(26, 16, -1)), "lower": list(range(17)) + [29]}


def face_region_mask(landmarks: torch.Tensor, size: int, region: str = "face", lift: float = 0.15,
                     sigma: float | None = None) -> torch.Tensor:
    """Soft masks (B, 1, S, S) in [0, 1] of a face region (see :data:`REGIONS`), from pixel landmarks (B, 68, 2).

    For ``face`` the brows are lifted by ``lift`` inter-ocular distances so the
    forehead creases of raised brows are inside; the edge is smoothed by a
    Gaussian of ``sigma`` pixels (default size / 32). Where the mask is 0 the
    appearance step leaves the warped crop exactly as it is.

    Raises:
        ValueError: an unknown region.
    """
    if region not in REGIONS:
        raise ValueError(f"region must be one of {', '.join(REGIONS)}, got {region!r}")
    sigma = size / 32 if sigma is None else sigma
    points = landmarks.detach().double().cpu().numpy()
    masks = np.zeros((len(points), size, size), dtype=np.float32)
    for mask, shape in zip(masks, points):
        iod = np.linalg.norm(shape[42:48].mean(axis=0) - shape[36:42].mean(axis=0))
        outline = shape[REGIONS[region]].copy()
        if region == "face":
            outline[17:, 1] -= lift * iod
        cv2.fillPoly(mask, [np.round(outline * 16).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=4)
        if sigma > 0:
            cv2.GaussianBlur(mask, (0, 0), sigma, dst=mask, borderType=cv2.BORDER_CONSTANT)
    return torch.from_numpy(masks).unsqueeze(1).clamp_(0, 1)



def moved_region(travel: torch.Tensor, scale: float) -> torch.Tensor:
    """Weights (B, 1, S, S) in [0, 1) of where a warp moved content: ``1 - exp(-(travel / scale) ** 2)`` for
    ``travel`` (B, S, S) in pixels (:func:`apply_grid`); ``scale`` 0 weighs every pixel 1. It keeps a learnt
    correction to what the expression changed (the mouth, cheeks, brows and eyelids the warp moved)."""
    if scale <= 0:
        return torch.ones_like(travel).unsqueeze(1)
    return (1.0 - torch.exp(-((travel / scale) ** 2))).unsqueeze(1)
