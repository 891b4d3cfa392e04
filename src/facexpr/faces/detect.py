"""Face detection and 68-point landmarks: dlib HOG first, OpenCV Haar as a fallback, any 90-degree rotation.

Search order (each step only when the previous ones found nothing):

1. dlib HOG on the image, then on 2x, 4x... upsampled versions (``max_upsample``);
2. the same on the image rotated by 90, 270 and 180 degrees (sideways and
   upside-down photos whose EXIF orientation was lost);
3. OpenCV's Haar cascade at the same rotations (it finds faces under harsh
   side lighting that HOG misses).

The first step that finds anything wins. Landmarks come from dlib's shape
predictor, run on the rotated image where the face is upright (also on Haar
boxes, after converting them to the box geometry the predictor was trained
on), and are mapped back to the input image's coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import dlib
import numpy as np

from facexpr.faces.models import haar_cascade, hog_detector, shape_predictor

#: Rotations (clockwise, degrees) tried in this order when ``try_rotations`` is on.
ROTATIONS = (0, 90, 270, 180)
#: Images larger than this (longest side, pixels) are detected on a downscaled copy; landmarks use full resolution.
DETECT_MAX_SIDE = 1600
#: A Haar box (x, y, w, h) becomes the dlib-style box the shape predictor expects:
#: centre moved down by this fraction of w, side scaled by :data:`HAAR_TO_DLIB_SCALE`.
HAAR_TO_DLIB_SHIFT = 0.09
HAAR_TO_DLIB_SCALE = 0.84

_ROTATE_CODES = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


@dataclass
class Face:
    """One face found in an input image.

    ``box`` is (x0, y0, x1, y1) and ``landmarks`` the (68, 2) float32 (x, y)
    iBUG points, both in input-image coordinates. ``detector`` says which step
    found it (``"dlib-hog"``, ``"dlib-hog-up1"``, ``"haar"``, or ``"given"`` for
    landmarks supplied by the caller) and ``rotation`` the clockwise rotation
    (0/90/180/270) the image needed for the face to be found upright.
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    detector: str
    rotation: int

    @property
    def area(self) -> float:
        """Box area in square pixels (faces are ranked by it)."""
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


def check_image(image: np.ndarray) -> np.ndarray:
    """``image`` as an array, if it is uint8 grey (H, W) or colour (H, W, C); TypeError otherwise."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or min(image.shape[:2]) == 0:
        raise TypeError(f"expected a non-empty uint8 (H, W) or (H, W, 3) image, got {image.dtype} {image.shape}")
    return image


def to_grey(image: np.ndarray) -> np.ndarray:
    """uint8 grey copy of an RGB (H, W, 3), RGBA or grey (H, W) image."""
    if image.ndim == 2:
        return np.ascontiguousarray(image)
    if image.shape[2] == 1:
        return np.ascontiguousarray(image[:, :, 0])
    return cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY)


def rotate_image(image: np.ndarray, rotation: int) -> np.ndarray:
    """The image rotated clockwise by 0, 90, 180 or 270 degrees."""
    return image if rotation == 0 else cv2.rotate(image, _ROTATE_CODES[rotation])


def unrotate_points(points: np.ndarray, rotation: int, width: int, height: int) -> np.ndarray:
    """Map (x, y) points of the image rotated clockwise by ``rotation`` back to the original
    ``width`` x ``height`` image (pixel centres at integer coordinates)."""
    u, v = points[:, 0], points[:, 1]
    if rotation == 0:
        x, y = u, v
    elif rotation == 90:
        x, y = v, height - 1 - u
    elif rotation == 180:
        x, y = width - 1 - u, height - 1 - v
    elif rotation == 270:
        x, y = width - 1 - v, u
    else:
        raise ValueError(f"rotation must be 0, 90, 180 or 270, not {rotation}")
    return np.stack([x, y], axis=1)


def predict_landmarks(grey: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """dlib's 68 landmarks (float32 (68, 2)) for a face box (x0, y0, x1, y1), x1/y1 exclusive, of a grey image."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    shape = shape_predictor()(grey, dlib.rectangle(x0, y0, x1 - 1, y1 - 1))  # dlib's right/bottom are inclusive
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def _hog_boxes(grey: np.ndarray, upsample: int, scale: float) -> list[tuple[float, float, float, float]]:
    """HOG detections on ``grey`` (possibly downscaled by ``scale``), in full-resolution coordinates."""
    rects = hog_detector()(grey, upsample)
    return [(r.left() / scale, r.top() / scale, (r.right() + 1) / scale, (r.bottom() + 1) / scale) for r in rects]


def _haar_boxes(grey: np.ndarray, scale: float) -> list[tuple[float, float, float, float]]:
    """Haar detections converted to dlib-style boxes, in full-resolution coordinates."""
    min_side = max(24, min(grey.shape[:2]) // 12)
    found = haar_cascade().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
    boxes = []
    for x, y, w, h in np.asarray(found).reshape(-1, 4):
        side = HAAR_TO_DLIB_SCALE * w
        cx, cy = x + w / 2.0, y + h / 2.0 + HAAR_TO_DLIB_SHIFT * w
        half = side / 2.0
        boxes.append(((cx - half) / scale, (cy - half) / scale, (cx + half) / scale, (cy + half) / scale))
    return boxes


def _downscaled(grey: np.ndarray) -> tuple[np.ndarray, float]:
    """The detection copy of an upright grey image and its scale (1.0 unless larger than :data:`DETECT_MAX_SIDE`)."""
    scale = min(1.0, DETECT_MAX_SIDE / max(grey.shape[:2]))
    if scale >= 1.0:
        return grey, 1.0
    size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA), scale


def _faces_from_boxes(
    grey: np.ndarray,
    boxes: list[tuple[float, float, float, float]],
    detector: str,
    rotation: int,
    width: int,
    height: int,
) -> list[Face]:
    """Landmarks for boxes of the rotated image, mapped back to the original; largest first."""
    faces = []
    for box in boxes:
        landmarks = unrotate_points(predict_landmarks(grey, box), rotation, width, height).astype(np.float32)
        corners = unrotate_points(np.array([box[:2], box[2:]], dtype=np.float64), rotation, width, height)
        x0, y0 = corners.min(axis=0)
        x1, y1 = corners.max(axis=0)
        faces.append(Face((float(x0), float(y0), float(x1), float(y1)), landmarks, detector, rotation))
    return sorted(faces, key=lambda face: face.area, reverse=True)


def detect_faces(
    image: np.ndarray, *, max_upsample: int = 1, try_rotations: bool = True, haar_fallback: bool = True
) -> list[Face]:
    """All faces of the first search step that finds any (see the module docstring), largest first; [] if none.

    ``image`` is uint8 RGB or grey. Coordinates of the returned faces refer to
    ``image`` whatever rotation was needed to find them.
    """
    grey = to_grey(check_image(image))
    height, width = grey.shape
    rotations = ROTATIONS if try_rotations else (0,)
    views: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}

    def view(rotation: int) -> tuple[np.ndarray, np.ndarray, float]:
        """The rotated grey image, its detection copy and that copy's scale (computed once)."""
        if rotation not in views:
            rotated = rotate_image(grey, rotation)
            views[rotation] = (rotated, *_downscaled(rotated))
        return views[rotation]

    for rotation in rotations:
        rotated, small, scale = view(rotation)
        for upsample in range(max_upsample + 1):
            boxes = _hog_boxes(small, upsample, scale)
            if boxes:
                name = "dlib-hog" if upsample == 0 else f"dlib-hog-up{upsample}"
                return _faces_from_boxes(rotated, boxes, name, rotation, width, height)
    if haar_fallback:
        for rotation in rotations:
            rotated, small, scale = view(rotation)
            boxes = _haar_boxes(small, scale)
            if boxes:
                return _faces_from_boxes(rotated, boxes, "haar", rotation, width, height)
    return []


def describe_search(
    image_size: tuple[int, int] | None, *, max_upsample: int, try_rotations: bool, haar_fallback: bool
) -> str:
    """One line saying what :func:`detect_faces` tries, on an image of ``(width, height)`` if given."""
    steps = "dlib HOG" + (f" (upsampled up to {2 ** max_upsample}x)" if max_upsample else "")
    if haar_fallback:
        steps += " and OpenCV Haar"
    where = "at rotations 0/90/270/180" if try_rotations else "upright only"
    size = f" on the {image_size[0]}x{image_size[1]} image" if image_size else ""
    return f"tried {steps} {where}{size}"
