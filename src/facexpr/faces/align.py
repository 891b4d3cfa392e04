"""Similarity alignment of a face onto one canonical template, and pasting a crop back.

Five points steer the alignment: the two eye centres (means of the six
eyelid points 36-41 and 42-47), the nose tip (30) and the mouth corners (48,
54). The template places them as a frontal average face would lie in a square
crop with the whole face, forehead to chin, inside it: eyes 0.28 of the crop
apart on a horizontal line at 0.36 of its height, which leaves about one
inter-ocular distance of forehead above the brows and room below the chin of
a long face (only a wide-open mouth can push the chin to the bottom edge).

The transform is the weighted least-squares similarity (Umeyama's solution,
restricted to 2-D) with the eyes weighted far more than nose and mouth: the
eyes land within a pixel or so of their template position, while nose and
mouth still correct scale and rotation a little (a single eye pair is noisy
for tilted heads and squints). If a face's nose/mouth disagree with its eyes
so much that the eyes would move more than ``max_eye_error`` from the
template, the nose/mouth weights are halved until they do not.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Template points in IOD units (inter-ocular distance = 1) around the eye midpoint, y down:
#: image-left eye centre, image-right eye centre, nose tip, image-left and image-right mouth corner.
TEMPLATE_IOD = np.array([[-0.5, 0.0], [0.5, 0.0], [0.0, 0.5], [-0.42, 1.05], [0.42, 1.05]])
#: Inter-ocular distance as a fraction of the crop side.
TEMPLATE_IOD_FRACTION = 0.28
#: Eye midpoint as a fraction of the crop side (x, y).
TEMPLATE_EYE_MIDPOINT = (0.5, 0.36)
#: Default weights of the five points in the least-squares fit.
DEFAULT_WEIGHTS = (1.0, 1.0, 0.05, 0.05, 0.05)
#: Default bound on the eye centres' distance from the template, as a fraction of the crop side (1.28 px at 128).
DEFAULT_MAX_EYE_ERROR = 0.01


def template_points(size: int) -> np.ndarray:
    """The five template points (eye centres, nose tip, mouth corners) in pixels of a ``size`` crop, (5, 2) float64.

    Pixel centres are at integer coordinates, so the template is the same
    face region at every size: a point at fraction ``f`` of the side lies at
    ``f * size - 0.5``.
    """
    fraction = TEMPLATE_IOD * TEMPLATE_IOD_FRACTION + np.asarray(TEMPLATE_EYE_MIDPOINT)
    return fraction * size - 0.5


def alignment_points(landmarks: np.ndarray) -> np.ndarray:
    """The five points of a (68, 2) landmark set that the template refers to, (5, 2) float64."""
    lm = np.asarray(landmarks, dtype=np.float64)
    return np.stack([lm[36:42].mean(axis=0), lm[42:48].mean(axis=0), lm[30], lm[48], lm[54]])


def eye_centres(landmarks: np.ndarray) -> np.ndarray:
    """Image-left and image-right eye centres (means of points 36-41 and 42-47), (2, 2) float64."""
    return alignment_points(landmarks)[:2]


def similarity_transform(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The (2, 3) similarity (rotation, uniform scale, translation; no reflection) minimising
    ``sum w_i |M src_i - dst_i|^2``: weighted Umeyama, solved in closed form with complex numbers.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    p = src[:, 0] + 1j * src[:, 1]
    q = dst[:, 0] + 1j * dst[:, 1]
    p_mean, q_mean = (w * p).sum(), (w * q).sum()
    spread = (w * np.abs(p - p_mean) ** 2).sum()
    if spread <= 0:
        raise ValueError("similarity_transform needs at least two distinct weighted source points")
    a = (w * np.conj(p - p_mean) * (q - q_mean)).sum() / spread
    b = q_mean - a * p_mean
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to (N, 2) points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def eye_error(crop_landmarks: np.ndarray, size: int) -> float:
    """Largest distance (pixels) of a crop's eye centres from the template's."""
    return float(np.linalg.norm(eye_centres(crop_landmarks) - template_points(size)[:2], axis=1).max())


def alignment_matrix(
    landmarks: np.ndarray,
    size: int,
    weights: tuple[float, ...] = DEFAULT_WEIGHTS,
    max_eye_error: float = DEFAULT_MAX_EYE_ERROR,
) -> np.ndarray:
    """The (2, 3) similarity taking an image with these landmarks to a ``size`` crop on the template.

    Nose and mouth weights are halved (at most 10 times, then dropped) while
    the eye centres would land farther than ``max_eye_error * size`` pixels
    from the template.
    """
    src = alignment_points(landmarks)
    dst = template_points(size)
    w = np.asarray(weights, dtype=np.float64).copy()
    for _ in range(10):
        matrix = similarity_transform(src, dst, w)
        if np.linalg.norm(transform_points(src[:2], matrix) - dst[:2], axis=1).max() <= max_eye_error * size:
            return matrix
        w[2:] /= 2.0
    w[2:] = 0.0
    return similarity_transform(src, dst, w)


def warp_to_crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The ``size`` x ``size`` crop of ``image`` under ``matrix`` (input -> crop), border pixels replicated.

    When the crop shrinks the face by more than 1.5x the image is first
    area-downsampled, so that the crop is not aliased.
    """
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    if scale < 1.0 / 1.5:
        height, width = image.shape[:2]
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
        # a pixel centre u of the resized image samples x = (u + 0.5) * width / new_w - 0.5
        sx, sy = width / new_w, height / new_h
        to_original = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
        matrix = matrix @ to_original
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def face_mask(size: int, feather: float = 0.035) -> np.ndarray:
    """Soft face mask of a template crop, float32 (size, size) in [0, 1].

    An ellipse over the template face (cheek to cheek, mid-forehead to chin),
    blurred with a Gaussian of ``feather * size`` pixels so that a pasted crop
    blends into its surroundings without a seam; the blur lies inside the
    ellipse, so the mask reaches 0 before the face's outline.
    """
    scale = TEMPLATE_IOD_FRACTION * size
    cx = TEMPLATE_EYE_MIDPOINT[0] * size - 0.5
    cy = TEMPLATE_EYE_MIDPOINT[1] * size - 0.5 + 0.45 * scale
    sigma = max(feather * size, 0.5)
    axes = (max(1, round(1.1 * scale - 2 * sigma)), max(1, round(1.4 * scale - 2 * sigma)))
    mask = np.zeros((size, size), dtype=np.float32)
    cv2.ellipse(mask, (round(cx), round(cy)), axes, 0.0, 0.0, 360.0, 1.0, thickness=-1)
    return np.clip(cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma), 0.0, 1.0)


def paste_back(original: np.ndarray, crop: np.ndarray, matrix: np.ndarray, feather: float = 0.035) -> np.ndarray:
    """``original`` with ``crop`` (e.g. a neutralised face) warped back by the inverse of ``matrix`` and
    blended in through the feathered :func:`face_mask`.

    ``matrix`` is the (2, 3) input -> crop similarity of the alignment that
    produced the crop (``AlignedFace.matrix``) and ``crop`` must have that
    alignment's size. RGB and grey are converted to the original's layout.
    Returns a new uint8 array shaped like ``original``.
    """
    original = np.asarray(original)
    crop = np.asarray(crop)
    size = crop.shape[0]
    if crop.shape[1] != size:
        raise ValueError(f"paste_back needs a square crop, got {crop.shape[1]}x{crop.shape[0]}")
    if original.ndim == 3 and crop.ndim == 2:
        crop = np.repeat(crop[:, :, None], original.shape[2], axis=2)
    elif original.ndim == 2 and crop.ndim == 3:
        crop = cv2.cvtColor(np.ascontiguousarray(crop[:, :, :3]), cv2.COLOR_RGB2GRAY)
    height, width = original.shape[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    back = cv2.warpAffine(crop, matrix, (width, height), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    mask = cv2.warpAffine(
        face_mask(size, feather), matrix, (width, height), flags=flags, borderMode=cv2.BORDER_CONSTANT
    )
    if original.ndim == 3:
        mask = mask[:, :, None]
    blended = original.astype(np.float32) * (1.0 - mask) + back.astype(np.float32) * mask
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def paste_warp(original: np.ndarray, matrix: np.ndarray, grid: np.ndarray,
               correction: np.ndarray | None = None) -> np.ndarray:
    """``original`` with a crop-space warp (and an additive correction) applied at the photo's full resolution.

    Where :func:`paste_back` pastes a (small) output crop over the photo, this
    moves the photo's own pixels: ``grid`` (S, S, 2) is where each pixel of the
    aligned crop reads from (``grid_sample`` coordinates, ``align_corners=False``),
    ``matrix`` the (2, 3) photo -> crop similarity of that alignment, and
    ``correction`` an optional (S, S) or (S, S, C) change of intensity in [-1, 1]
    (1 = 255 levels) added on top. Both are resampled to the photo with linear
    interpolation; outside the crop nothing changes. A warp that leaves the crop
    border in place (as the geometric model's does) and a correction that is zero
    there need no feathering: the result has no seam. Returns a new uint8 array.
    """
    original = np.asarray(original)
    size = grid.shape[0]
    pixels = np.arange(size, dtype=np.float32)
    reads = (np.asarray(grid, np.float32) + 1.0) * size / 2.0 - 0.5
    shift = reads - np.stack(np.meshgrid(pixels, pixels), axis=-1)  # crop pixels each crop pixel reads away
    inverse = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    corners = transform_points(np.array([[-1, -1], [size, -1], [-1, size], [size, size]], float), inverse)
    height, width = original.shape[:2]
    x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int), 0, [width, height])
    x1, y1 = np.clip(np.ceil(corners.max(axis=0)).astype(int) + 1, 0, [width, height])
    if x1 <= x0 or y1 <= y0:
        return original.copy()
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    cx = (matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]).astype(np.float32)
    cy = (matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]).astype(np.float32)
    sample = lambda field: cv2.remap(np.ascontiguousarray(field, np.float32), cx, cy, cv2.INTER_LINEAR,  # noqa: E731
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    sx, sy = cx + sample(shift[..., 0]), cy + sample(shift[..., 1])
    map_x = (inverse[0, 0] * sx + inverse[0, 1] * sy + inverse[0, 2]).astype(np.float32)
    map_y = (inverse[1, 0] * sx + inverse[1, 1] * sy + inverse[1, 2]).astype(np.float32)
    region = cv2.remap(original, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT).astype(np.float32)
    if correction is not None:
        change = np.asarray(correction, np.float32)
        if change.ndim == 3 and original.ndim == 2:
            change = change.mean(axis=2)
        change = np.dstack([sample(change[..., c]) for c in range(change.shape[2])]) if change.ndim == 3 else sample(change)
        if region.ndim == 3 and change.ndim == 2:
            change = change[..., None]
        region = region + 255.0 * change
    out = original.copy()
    out[y0:y1, x0:x1] = np.clip(np.rint(region), 0, 255).astype(np.uint8)
    return out
