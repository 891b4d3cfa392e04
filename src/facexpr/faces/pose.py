"""Head pose (yaw, pitch, roll) from the 68 landmarks, without OpenFace.

A generic 3-D face (rounded anthropometric proportions in units of the
inter-ocular distance) is fitted to the landmarks with ``cv2.solvePnP``
under a pinhole camera whose focal length is the image width and whose
principal point is the image centre. Only points that expressions barely
move take part: the upper jaw outline (above the mouth, which drags the chin
down when it opens), the nose and the eye corners (brows and mouth would
turn a smile or raised brows into a head nod). Individual proportions differ
from the generic face, so expect a person-specific offset of several degrees,
mostly in pitch (frontal studio photos: median |pitch| about 4 degrees, rarely
up to 20).

Sign convention (camera frame: x to the image's right, y down, z away from
the camera; all angles in degrees, 0 for a face looking straight into the
camera with its eyes level):

* ``yaw`` > 0: the face turns toward the image's right (the subject's left);
* ``pitch`` > 0: the face tilts up (chin forward);
* ``roll`` > 0: the head leans clockwise in the image (the eye on the
  image's right is lower).

The head rotation is ``R = Rz(roll) @ Ry(-yaw) @ Rx(-pitch)`` (see
:func:`rotation_matrix`), applied to the model in its frontal position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Frontality falls to exp(-1/2) at this combined yaw/pitch angle (degrees).
FRONTALITY_SCALE_DEGREES = 20.0


def _generic_face_model() -> tuple[np.ndarray, np.ndarray]:
    """Landmark indices and (N, 3) model coordinates of the generic face (IOD units, origin between the eyes
    at the depth of the nose tip, x right, y down, z away from the camera)."""
    # outline points 0-3 (temple to jaw, above the mouth); 13-16 mirror them
    upper_jaw = [(-1.13, 0.07, 1.20), (-1.10, 0.37, 1.15), (-1.06, 0.66, 1.08), (-1.00, 0.95, 0.98)]
    points: dict[int, tuple[float, float, float]] = {}
    for i, (x, y, z) in enumerate(upper_jaw):
        points[i] = (x, y, z)
        points[16 - i] = (-x, y, z)
    points.update({
        27: (0.0, -0.06, 0.38), 28: (0.0, 0.12, 0.27), 29: (0.0, 0.30, 0.15), 30: (0.0, 0.50, 0.0),  # bridge, tip
        31: (-0.21, 0.66, 0.32), 32: (-0.11, 0.69, 0.24), 33: (0.0, 0.72, 0.20),  # nostrils
        34: (0.11, 0.69, 0.24), 35: (0.21, 0.66, 0.32),
        36: (-0.69, 0.01, 0.62), 39: (-0.29, 0.02, 0.45), 42: (0.29, 0.02, 0.45), 45: (0.69, 0.01, 0.62),  # eye corners
    })
    indices = np.array(sorted(points))
    return indices, np.array([points[i] for i in indices], dtype=np.float64)


#: Landmark indices used for pose, and their generic 3-D positions (see :func:`_generic_face_model`).
MODEL_INDICES, MODEL_POINTS = _generic_face_model()


@dataclass
class HeadPose:
    """Head rotation in degrees, with the sign convention of :mod:`facexpr.faces.pose`."""

    yaw: float
    pitch: float
    roll: float


def rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The 3x3 camera-frame rotation of a head with this pose (degrees): ``Rz(roll) @ Ry(-yaw) @ Rx(-pitch)``."""
    a, b, c = math.radians(-pitch), math.radians(-yaw), math.radians(roll)
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def pose_from_rotation(rotation: np.ndarray) -> HeadPose:
    """Inverse of :func:`rotation_matrix` (yaw within +-90 degrees)."""
    r = np.asarray(rotation, dtype=np.float64)
    b = math.asin(max(-1.0, min(1.0, -r[2, 0])))
    a = math.atan2(r[2, 1], r[2, 2])
    c = math.atan2(r[1, 0], r[0, 0])
    return HeadPose(yaw=-math.degrees(b), pitch=-math.degrees(a), roll=math.degrees(c))


def camera_matrix(width: int, height: int) -> np.ndarray:
    """The assumed pinhole camera: focal length = image width, principal point = image centre."""
    return np.array([[width, 0.0, width / 2.0], [0.0, width, height / 2.0], [0.0, 0.0, 1.0]])


def estimate_head_pose(landmarks: np.ndarray, image_size: tuple[int, int]) -> HeadPose:
    """Yaw, pitch and roll (degrees) of a face from its (68, 2) landmarks in an image of ``(width, height)``.

    The fit starts from a frontal head at the landmarks' in-plane angle and
    distance, which keeps the solver off the mirrored (face turned away)
    solution and makes it work for upside-down and sideways faces too.
    """
    width, height = image_size
    lm = np.asarray(landmarks, dtype=np.float64)
    image_points = lm[MODEL_INDICES]
    left, right = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    eye_axis = right - left
    iod = float(np.linalg.norm(eye_axis))
    if iod <= 0:
        raise ValueError("landmarks have coincident eye centres")
    camera = camera_matrix(width, height)
    depth = camera[0, 0] / iod  # the model's IOD is 1
    middle = (left + right) / 2.0
    focal, centre = camera[0, 0], camera[:2, 2]
    tvec = np.array([*((middle - centre) * depth / focal), depth])
    start = rotation_matrix(0.0, 0.0, math.degrees(math.atan2(eye_axis[1], eye_axis[0])))
    rvec, _ = cv2.Rodrigues(start)
    ok, rvec, tvec = cv2.solvePnP(
        MODEL_POINTS, image_points, camera, None, rvec.copy(), tvec.reshape(3, 1).copy(),
        useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE,
    )
    if not ok:
        raise ValueError("head pose fit did not converge")
    return pose_from_rotation(cv2.Rodrigues(rvec)[0])


def frontality_score(pose: HeadPose, scale_degrees: float = FRONTALITY_SCALE_DEGREES) -> float:
    """How frontal a head is, in [0, 1]: ``exp(-(yaw^2 + pitch^2) / (2 scale^2))``.

    Roll is ignored: alignment removes in-plane rotation, so a tilted but
    frontal head still gives a frontal crop. 1 = looking into the camera;
    0.61 at 20 degrees of yaw or pitch; 0.14 at 40.
    """
    angle2 = pose.yaw ** 2 + pose.pitch ** 2
    return float(math.exp(-angle2 / (2.0 * scale_degrees ** 2)))
