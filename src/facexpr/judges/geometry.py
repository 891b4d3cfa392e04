"""The landmark judge: dlib's 68 points of aligned crops, found without a face detector.

Generated faces can be blurry or odd enough that a detector misses them, and
an evaluation that silently drops the hard cases flatters the model. Aligned
crops do not need a detector: the pipeline puts every face at the same place
(eyes on ``template_points(size)[:2]``), so the face box that dlib's HOG
detector would draw is known in advance. :func:`fixed_face_box` derives it
from the template: its centre lies :data:`BOX_CENTRE_IOD` inter-ocular
distances (IOD) from the eye midpoint and its side is :data:`BOX_SIDE_IOD`
IODs, the medians of the HOG boxes of all 164 Face Research Lab London photos
(82 people, neutral and smiling) mapped into their aligned crops. dlib's shape
predictor runs on that box.

Every crop is first resized to :data:`WORK_SIZE` pixels. dlib returns integer
landmark coordinates, so on a 128 px crop rounding alone costs about 0.01 IOD;
on the 2x upsampled crop the fixed-box landmarks of those FRL crops lie 0.010
IOD (mean over the 51 inner points; 0.014 at 128 px) from the pipeline's own
crop landmarks, which the predictor found on the full-resolution photo with
the detected box. The result barely depends on the box: moving its centre by
0.04 IOD or scaling it by 6% changes that error by less than 0.0005 IOD. The
fixed working size also makes crops of any size comparable (a 64 px output is
judged like its 128 px target).

:class:`~facexpr.judges.identity.IdentityJudge` uses the same box and shape
(:func:`working_landmarks`), so both judges see the same face.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from facexpr.faces import template_points
from facexpr.faces.detect import predict_landmarks, to_grey
from facexpr.faces.models import shape_predictor

#: The 51 inner landmarks (brows 17-26, nose 27-35, eyes 36-47, mouth 48-67): the jaw line (0-16) is
#: left out because its points slide along the face outline and depend on the background and hair.
INNER = slice(17, 68)
#: Centre of the fixed face box relative to the eye midpoint, in IOD units (x right, y down).
BOX_CENTRE_IOD = (0.05, 0.49)
#: Side of the (square) fixed face box in IOD units.
BOX_SIDE_IOD = 2.22
#: Side (pixels) every crop is resized to before the shape predictor and the descriptor network see it.
WORK_SIZE = 256
#: Smallest crop side accepted (the face pipeline's own minimum).
MIN_CROP_SIZE = 8

#: What the judges accept: a sequence of crops or a (B, H, W) / (B, H, W, C) uint8 array.
Crops = Sequence[np.ndarray] | np.ndarray


def fixed_face_box(size: int) -> tuple[float, float, float, float]:
    """The face box (x0, y0, x1, y1; x1/y1 exclusive) dlib's HOG detector would draw around the
    template face of a ``size`` px aligned crop (see the module docstring for its derivation)."""
    eyes = template_points(size)[:2]
    iod = float(np.linalg.norm(eyes[1] - eyes[0]))
    cx, cy = eyes.mean(axis=0) + np.asarray(BOX_CENTRE_IOD) * iod
    half = BOX_SIDE_IOD * iod / 2.0
    return (cx - half, cy - half, cx + half, cy + half)


def crop_list(crops: Crops) -> list[np.ndarray]:
    """``crops`` as a list of checked aligned crops.

    A numpy array is a batch: (B, H, W) grey or (B, H, W, C) colour; any other
    sequence holds one (H, W) or (H, W, C) crop per item (crops of different
    sizes may be mixed). A single crop must be wrapped in a list.

    Raises:
        TypeError: a crop is not uint8.
        ValueError: a crop is not a square (S, S), (S, S, 1), (S, S, 3) or
            (S, S, 4) array with S >= :data:`MIN_CROP_SIZE`, or ``crops`` is an
            array that is not 3-D or 4-D.
    """
    if isinstance(crops, np.ndarray):
        if crops.ndim not in (3, 4):
            raise ValueError(f"a batch of crops must be (B, H, W) or (B, H, W, C), got shape {crops.shape}")
        items = list(crops)
    else:
        items = [np.asarray(crop) for crop in crops]
    for crop in items:
        if crop.dtype != np.uint8:
            raise TypeError(f"crops must be uint8 as written to disk, got {crop.dtype}")
        square = crop.ndim in (2, 3) and crop.shape[0] == crop.shape[1] >= MIN_CROP_SIZE
        if not square or (crop.ndim == 3 and crop.shape[2] not in (1, 3, 4)):
            raise ValueError(
                f"each crop must be a square aligned (S, S) or (S, S, 1|3|4) image with S >= {MIN_CROP_SIZE}, "
                f"got shape {crop.shape} (wrap a single crop in a list)"
            )
    return items


def working_image(crop: np.ndarray) -> np.ndarray:
    """A checked crop resized to :data:`WORK_SIZE` as contiguous uint8 RGB (grey is replicated, alpha dropped).

    Upsampling is bicubic, downsampling area-averaged; pixel centres map onto
    pixel centres, so the template lies at ``template_points(WORK_SIZE)``.
    """
    size = crop.shape[0]
    if crop.ndim == 3 and crop.shape[2] == 1:
        crop = crop[:, :, 0]
    if size != WORK_SIZE:
        interpolation = cv2.INTER_CUBIC if size < WORK_SIZE else cv2.INTER_AREA
        crop = cv2.resize(np.ascontiguousarray(crop), (WORK_SIZE, WORK_SIZE), interpolation=interpolation)
    if crop.ndim == 2:
        crop = np.repeat(crop[:, :, None], 3, axis=2)
    return np.ascontiguousarray(crop[:, :, :3])


def working_landmarks(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The :func:`working_image` of a checked crop and its 68 landmarks there, float32 (68, 2).

    dlib's shape predictor runs on the grey working image inside
    ``fixed_face_box(WORK_SIZE)``; the points are integers (dlib rounds them).
    """
    image = working_image(crop)
    return image, predict_landmarks(to_grey(image), fixed_face_box(WORK_SIZE))


def inter_ocular_distance(landmarks: np.ndarray) -> float | np.ndarray:
    """Distance between the eye centres (means of points 36-41 and 42-47) of (68, 2) landmarks
    (a float) or of a (B, 68, 2) batch (a (B,) array)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    iod = np.linalg.norm(lm[..., 42:48, :].mean(axis=-2) - lm[..., 36:42, :].mean(axis=-2), axis=-1)
    return float(iod) if lm.ndim == 2 else iod


def landmark_error(output_landmarks: np.ndarray, target_landmarks: np.ndarray) -> float | np.ndarray:
    """Mean Euclidean distance of the 51 :data:`INNER` landmarks of an output from its target's,
    divided by the target's inter-ocular distance.

    Dividing by the IOD makes the error independent of crop size (the usual
    normalisation of 300-W-style landmark benchmarks); the jaw line is left
    out (see :data:`INNER`). Takes (68, 2) pairs (returns a float) or (B, 68, 2)
    batches (returns a (B,) array).

    Raises:
        ValueError: the two sets differ in shape or are not (68, 2) / (B, 68, 2).
    """
    out = np.asarray(output_landmarks, dtype=np.float64)
    target = np.asarray(target_landmarks, dtype=np.float64)
    if out.shape != target.shape or out.ndim not in (2, 3) or out.shape[-2:] != (68, 2):
        raise ValueError(
            f"landmarks must be matching (68, 2) or (B, 68, 2) arrays, got {out.shape} and {target.shape}"
        )
    error = np.linalg.norm(out[..., INNER, :] - target[..., INNER, :], axis=-1).mean(axis=-1)
    return error / inter_ocular_distance(target)


class LandmarkJudge:
    """dlib's 68 landmarks of aligned crops from the fixed template face box (no detection).

    Construction loads the shape predictor (cached per process, shared with
    the face pipeline). Typical use::

        judge = LandmarkJudge()
        errors = judge.error(outputs, targets)   # (B,) inner-landmark error / target IOD
    """

    def __init__(self) -> None:
        shape_predictor()

    def landmarks(self, crops: Crops) -> np.ndarray:
        """(B, 68, 2) float64 landmarks of aligned crops (see :func:`crop_list` for the accepted layouts),
        in each crop's own pixel coordinates (pixel centres at integers)."""
        items = crop_list(crops)
        sizes = np.array([crop.shape[0] for crop in items], dtype=np.float64).reshape(-1, 1, 1)
        return (self._working_points(items) + 0.5) * (sizes / WORK_SIZE) - 0.5

    def error(self, outputs: Crops, targets: Crops) -> np.ndarray:
        """(B,) :func:`landmark_error` of each output crop against its target crop.

        Both are compared at :data:`WORK_SIZE`, so an output may have another
        crop size than its target.

        Raises:
            ValueError: different numbers of outputs and targets.
        """
        out, target = crop_list(outputs), crop_list(targets)
        if len(out) != len(target):
            raise ValueError(f"{len(out)} outputs but {len(target)} targets")
        return landmark_error(self._working_points(out), self._working_points(target))

    @staticmethod
    def _working_points(items: list[np.ndarray]) -> np.ndarray:
        """(B, 68, 2) float64 landmarks of checked crops in :data:`WORK_SIZE` coordinates."""
        return np.array([working_landmarks(crop)[1] for crop in items], dtype=np.float64).reshape(-1, 68, 2)
