"""Geometric expression cues from the 68 landmarks, and a neutrality score built on them.

All cues are measured in a face frame (origin between the eye centres, x
along the eye line, y perpendicular to it pointing to the chin) in units of
the inter-ocular distance (IOD), so they do not depend on image size, head
roll or distance to the camera:

* ``mouth_open``: mean gap between the inner lips (pairs 61-67, 62-66, 63-65);
* ``lip_corner_lift``: height of the mouth corners (48, 54) above the inner
  lips' centre line (mean of 61-63 and 65-67); positive = corners up (smile),
  negative = corners down; a relaxed mouth sits slightly below 0;
* ``brow_raise``: height of each brow (mean of 17-21, 22-26) above its eye centre;
* ``eye_open``: mean eyelid gap (37-41 and 38-40, 43-47 and 44-46);
* ``mouth_width``: distance between the mouth corners (48-54); a smile
  stretches the mouth as much as it lifts its corners.

Brow height and eye opening differ a lot between people, so the *absolute*
neutrality only asks for a closed, relaxed mouth (corners neither lifted nor
depressed, mouth not stretched wider than a relaxed one); the *relative*
neutrality compares all four cues with a reference of the same person (for
example the median over a video's frames, :func:`reference_cues`).
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass

import numpy as np

#: Lip-corner lift of a relaxed mouth (IOD units): corners slightly below the inner-lip line.
NEUTRAL_LIP_CORNER_LIFT = -0.03
#: Inner-lip gap (IOD units) still counted as a closed mouth.
CLOSED_MOUTH_TOLERANCE = 0.02
#: Widest relaxed mouth (IOD units) before stretching counts as expression.
RELAXED_MOUTH_WIDTH = 0.82
#: Typical size of an expression-driven change of each cue (IOD units); a deviation of this much
#: from neutral counts as one unit in the neutrality distance.
CUE_SCALES = {"mouth_open": 0.05, "lip_corner_lift": 0.04, "brow_raise": 0.04, "eye_open": 0.03, "mouth_width": 0.06}


@dataclass
class ExpressionCues:
    """Expression measurements in units of the inter-ocular distance (see :mod:`facexpr.faces.cues`)."""

    mouth_open: float
    lip_corner_lift: float
    brow_raise: float
    eye_open: float
    mouth_width: float


def face_frame(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks in the face frame: origin between the eye centres, x along the eye line, y toward the chin, IOD = 1."""
    lm = np.asarray(landmarks, dtype=np.float64)
    left, right = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    axis = right - left
    iod = float(np.linalg.norm(axis))
    if iod <= 0:
        raise ValueError("landmarks have coincident eye centres")
    ex = axis / iod
    ey = np.array([-ex[1], ex[0]])
    centred = lm - (left + right) / 2.0
    return np.stack([centred @ ex, centred @ ey], axis=1) / iod


def expression_cues(landmarks: np.ndarray) -> ExpressionCues:
    """The geometric cues of a (68, 2) landmark set (image or crop coordinates alike)."""
    frame = face_frame(landmarks)
    y = frame[:, 1]
    mouth_open = np.mean([y[67] - y[61], y[66] - y[62], y[65] - y[63]])
    inner_line = y[[61, 62, 63, 65, 66, 67]].mean()
    lift = inner_line - (y[48] + y[54]) / 2.0
    brow = np.mean([y[36:42].mean() - y[17:22].mean(), y[42:48].mean() - y[22:27].mean()])
    eye = np.mean([(y[41] + y[40] - y[37] - y[38]) / 2.0, (y[47] + y[46] - y[43] - y[44]) / 2.0])
    width = np.linalg.norm(frame[54] - frame[48])
    return ExpressionCues(float(mouth_open), float(lift), float(brow), float(eye), float(width))


def reference_cues(cues: list[ExpressionCues]) -> ExpressionCues:
    """Cue-wise median of one person's cues (e.g. all frames of a video): their usual face."""
    if not cues:
        raise ValueError("reference_cues needs at least one set of cues")
    return ExpressionCues(*np.median(np.array([astuple(c) for c in cues]), axis=0).tolist())


def neutrality_score(cues: ExpressionCues, reference: ExpressionCues | None = None) -> float:
    """How neutral a face looks, in [0, 1] (1 = neutral); ``1 - neutrality`` is its expressiveness.

    ``exp(-d^2 / 2)`` where ``d^2`` sums squared deviations in units of
    :data:`CUE_SCALES`. Without a reference (absolute score) the deviations
    are the inner-lip gap beyond :data:`CLOSED_MOUTH_TOLERANCE`, the lip
    corners' distance from :data:`NEUTRAL_LIP_CORNER_LIFT` in either
    direction, and the mouth width beyond :data:`RELAXED_MOUTH_WIDTH`. With a
    ``reference`` of the same person, every cue is compared with it.
    """
    if reference is None:
        deviations = {
            "mouth_open": max(0.0, cues.mouth_open - CLOSED_MOUTH_TOLERANCE),
            "lip_corner_lift": cues.lip_corner_lift - NEUTRAL_LIP_CORNER_LIFT,
            "mouth_width": max(0.0, cues.mouth_width - RELAXED_MOUTH_WIDTH),
        }
    else:
        deviations = {name: getattr(cues, name) - getattr(reference, name) for name in CUE_SCALES}
    distance2 = sum((value / CUE_SCALES[name]) ** 2 for name, value in deviations.items())
    return float(math.exp(-distance2 / 2.0))
