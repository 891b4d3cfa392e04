"""The face pipeline: image -> faces -> aligned crops with pose, expression cues and scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facexpr.faces.align import (
    DEFAULT_MAX_EYE_ERROR,
    DEFAULT_WEIGHTS,
    alignment_matrix,
    eye_error,
    transform_points,
    warp_to_crop,
)
from facexpr.faces.cues import ExpressionCues, expression_cues, neutrality_score
from facexpr.faces.detect import (
    Face,
    check_image,
    describe_search,
    detect_faces,
    to_grey,
)
from facexpr.faces.pose import HeadPose, estimate_head_pose, frontality_score


@dataclass
class AlignedFace:
    """One face aligned onto the template.

    ``image`` is the (S, S, 3) RGB or (S, S) grey uint8 crop, ``landmarks``
    its (68, 2) float32 points in crop coordinates, ``matrix`` the (2, 3)
    input-image -> crop similarity (invert it to paste the crop back), and
    ``eye_error`` the largest distance in crop pixels of its eye centres
    from the template's. ``pose`` (degrees), ``cues`` and ``frontality`` are
    measured on the input-image landmarks; ``neutrality`` is the absolute
    score of :func:`facexpr.faces.cues.neutrality_score`.
    """

    image: np.ndarray
    landmarks: np.ndarray
    matrix: np.ndarray
    face: Face
    pose: HeadPose
    cues: ExpressionCues
    frontality: float
    neutrality: float
    eye_error: float


def _given_face(landmarks: np.ndarray) -> Face:
    """A :class:`Face` for caller-supplied landmarks (box = their bounding box)."""
    points = np.asarray(landmarks, dtype=np.float32)
    if points.shape != (68, 2) or not np.isfinite(points).all():
        raise ValueError(f"landmarks must be a finite (68, 2) array, got shape {points.shape}")
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return Face((float(x0), float(y0), float(x1), float(y1)), points, "given", 0)


def align_face(
    image: np.ndarray,
    face: Face | np.ndarray,
    size: int = 128,
    grey: bool = False,
    weights: tuple[float, ...] = DEFAULT_WEIGHTS,
    max_eye_error: float = DEFAULT_MAX_EYE_ERROR,
) -> AlignedFace:
    """Crop ``face`` (a :class:`Face` or its (68, 2) landmarks) from ``image`` onto the template at ``size`` px.

    ``image`` is uint8 RGB or grey; the crop is RGB unless ``grey``. See
    :func:`facexpr.faces.align.alignment_matrix` for ``weights`` and ``max_eye_error``.
    """
    image = check_image(image)
    if size < 8:
        raise ValueError(f"crop size must be at least 8 pixels, got {size}")
    if not isinstance(face, Face):
        face = _given_face(face)
    if grey:
        source = to_grey(image)
    elif image.ndim == 2:
        source = np.repeat(image[:, :, None], 3, axis=2)
    else:
        source = np.ascontiguousarray(image[:, :, :3])
    matrix = alignment_matrix(face.landmarks, size, weights, max_eye_error)
    crop = warp_to_crop(source, matrix, size)
    crop_landmarks = transform_points(face.landmarks, matrix).astype(np.float32)
    pose = estimate_head_pose(face.landmarks, (image.shape[1], image.shape[0]))
    cues = expression_cues(face.landmarks)
    return AlignedFace(
        image=crop,
        landmarks=crop_landmarks,
        matrix=matrix,
        face=face,
        pose=pose,
        cues=cues,
        frontality=frontality_score(pose),
        neutrality=neutrality_score(cues),
        eye_error=eye_error(crop_landmarks, size),
    )


class FacePipeline:
    """Detect, align and score faces with fixed options (crop ``size``, ``grey``, ``all_faces``...).

    ``max_upsample``, ``try_rotations`` and ``haar_fallback`` shape the
    detection search (:func:`facexpr.faces.detect.detect_faces`); ``weights``
    are the alignment weights of eye centres, nose tip and mouth corners.
    Models load once per process, on first use.
    """

    def __init__(
        self,
        size: int = 128,
        grey: bool = False,
        all_faces: bool = False,
        max_upsample: int = 1,
        try_rotations: bool = True,
        haar_fallback: bool = True,
        weights: tuple[float, ...] = DEFAULT_WEIGHTS,
    ):
        self.size = size
        self.grey = grey
        self.all_faces = all_faces
        self.max_upsample = max_upsample
        self.try_rotations = try_rotations
        self.haar_fallback = haar_fallback
        self.weights = tuple(weights)
        self._last_size: tuple[int, int] | None = None

    def detect(self, image: np.ndarray) -> list[Face]:
        """Every face of the first detection step that finds any, largest first; [] when none."""
        image = check_image(image)
        self._last_size = (image.shape[1], image.shape[0])
        return detect_faces(
            image, max_upsample=self.max_upsample, try_rotations=self.try_rotations, haar_fallback=self.haar_fallback
        )

    def align(self, image: np.ndarray, face: Face) -> AlignedFace:
        """One face of ``image`` aligned with this pipeline's options."""
        return align_face(image, face, self.size, self.grey, self.weights)

    def process(self, image: np.ndarray, landmarks: np.ndarray | None = None) -> list[AlignedFace]:
        """Aligned faces of an image: the largest only, or all (largest first) with ``all_faces``; [] if none.

        Known ``landmarks`` (68, 2) (e.g. a synthetic face's sidecar) skip
        detection and give one face with ``detector="given"``.

        Raises:
            ValueError: ``landmarks`` is not a finite (68, 2) array or has
                coincident eye centres.
            TypeError: ``image`` is not a uint8 (H, W) or (H, W, 3) array.
        """
        if landmarks is not None:
            return [self.align(image, _given_face(landmarks))]
        faces = self.detect(image)
        if not self.all_faces:
            faces = faces[:1]
        return [self.align(image, face) for face in faces]

    def describe_search(self) -> str:
        """One line saying what the last :meth:`detect` tried (for a "no face found" skip reason)."""
        return describe_search(
            self._last_size,
            max_upsample=self.max_upsample,
            try_rotations=self.try_rotations,
            haar_fallback=self.haar_fallback,
        )
