"""Seeded procedural faces with their exact 68 landmarks: the embedded default dataset.

We may not ship photographs of real people, yet the demo and the fast tests need
paired faces (the same person, neutral and expressive) that go through the same
face pipeline as photos. This module draws them.

The landmarks ARE the face: :func:`face_landmarks` builds the 68 iBUG/dlib
points from an :class:`Identity` (face outline, eye, nose, mouth and brow
geometry), :class:`ActionUnits` (expression controls in FACS terms) and a
:class:`HeadPlacement` (roll, scale, offset in the frame); :func:`render_face`
then fills skin, eyes, brows, nose and lips through those points at a
supersampled resolution and downsamples with area averaging, so the image is
anti-aliased and the landmarks are exact for it. Every random choice (identity,
hair strands, skin texture) is seeded, so the same inputs always give the same
bytes. The default proportions follow the mean 68-point shape of frontal
photographs, so dlib's HOG detector and shape predictor treat these faces
like photos.

:func:`generate_dataset` writes a folder in the generic layout
``<subject>/<expression>/<take>.png`` with a landmark sidecar
(``<take>.landmarks.json``) beside each image; the face pipeline reads a
sidecar (:mod:`facexpr.data.sidecar`) instead of detecting landmarks.

Units: geometry is built in "face units", where half the face width at eye
level is about 1, the origin is the midpoint between the eyes and y points down.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from facexpr.data.sidecar import write_landmarks_sidecar
from facexpr.io import write_image_atomic

RGB = tuple[int, int, int]

HAIR_STYLES = ("short", "fringe", "long", "bald")
#: Face units per image side at scale 1 (so a face is about half the frame wide).
UNIT_FRACTION = 0.25
#: Height of the eye line in the frame, as a fraction of the image side.
EYE_LINE = 0.44
#: Superellipse exponent of the skull outline (2 would be an egg-like ellipse).
SKULL_POWER = 2.6

#: Skin from very light to very dark; hair black, dark brown, brown, auburn, blond, grey;
#: iris dark brown, brown, hazel, green, blue, grey (8-bit RGB).
_SKIN_TONES = np.array([[246, 208, 184], [226, 172, 138], [190, 134, 98], [141, 94, 64], [92, 60, 42]], float)
_HAIR_COLOURS = np.array([[22, 18, 16], [52, 34, 22], [96, 64, 38], [132, 62, 32], [196, 160, 104], [160, 156, 150]],
                         float)
_IRIS_COLOURS = np.array([[58, 36, 22], [100, 64, 34], [112, 96, 52], [70, 104, 70], [70, 110, 150], [110, 120, 128]],
                         float)


def _rgb(values: Sequence[float]) -> RGB:
    """Round and clip three channel values to an 8-bit RGB tuple."""
    r, g, b = (int(round(min(255.0, max(0.0, float(v))))) for v in values)
    return (r, g, b)


def _pick(rng: np.random.Generator, weights: Sequence[float]) -> int:
    """Index drawn with the given (unnormalised) weights."""
    p = np.asarray(weights, float)
    return int(rng.choice(len(p), p=p / p.sum()))


@dataclass(frozen=True)
class Identity:
    """Everything that makes one synthetic person look like themselves.

    Lengths are in face units (half the face width at eye level is about 1;
    vertical positions are measured downwards from the eye line). Colours are
    8-bit RGB. The defaults are an average face.
    """

    face_width: float = 1.0
    face_length: float = 1.6
    jaw_squareness: float = 2.35
    forehead_height: float = 1.22
    hairline: float = 0.95
    eye_spacing: float = 0.435
    eye_width: float = 0.35
    eye_height: float = 0.125
    eye_tilt: float = 0.01
    nose_length: float = 0.41
    nose_width: float = 0.18
    mouth_y: float = 0.93
    mouth_width: float = 0.355
    upper_lip: float = 0.10
    lower_lip: float = 0.12
    brow_height: float = 0.27
    brow_thickness: float = 0.065
    brow_arch: float = 0.14
    skin_rgb: RGB = (226, 172, 138)
    hair_rgb: RGB = (52, 34, 22)
    hair_style: str = "short"
    brow_rgb: RGB = (42, 28, 18)
    iris_rgb: RGB = (100, 64, 34)
    lip_rgb: RGB = (186, 104, 98)
    clothing_rgb: RGB = (60, 80, 120)
    texture_seed: int = 0

    def __post_init__(self) -> None:
        if self.hair_style not in HAIR_STYLES:
            raise ValueError(f"Identity.hair_style must be one of {', '.join(HAIR_STYLES)}, got {self.hair_style!r}")

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "Identity":
        """Draw a plausible, diverse person: every face is different, none is grotesque."""
        u = rng.uniform
        tone = u(0.0, 1.0)
        skin = np.array([np.interp(tone * 4, np.arange(5), channel) for channel in _SKIN_TONES.T])
        skin *= 1 + rng.normal(0, 0.025, 3)
        light_weight = max(0.0, 1.2 - 1.6 * tone)
        hair_index = _pick(rng, [3, 3, 2, light_weight, 2 * light_weight, 0.8])
        hair = _HAIR_COLOURS[hair_index] * u(0.85, 1.15)
        brow = hair * 0.75 if hair_index < 4 else 0.5 * hair + 0.5 * _HAIR_COLOURS[2]
        iris = _IRIS_COLOURS[_pick(rng, [3, 3, 1.5, light_weight, 2 * light_weight, 0.5 * light_weight])]
        lip = skin * np.array([0.86, 0.6, 0.62]) * u(0.9, 1.05) + np.array([18, 4, 6])
        return cls(
            face_width=u(0.92, 1.08), face_length=u(1.48, 1.72), jaw_squareness=u(1.9, 2.9),
            forehead_height=u(1.12, 1.32), hairline=u(0.82, 1.05),
            eye_spacing=u(0.41, 0.46), eye_width=u(0.31, 0.37), eye_height=u(0.105, 0.145), eye_tilt=u(-0.015, 0.045),
            nose_length=u(0.36, 0.47), nose_width=u(0.15, 0.21),
            mouth_y=u(0.89, 0.99), mouth_width=u(0.31, 0.41), upper_lip=u(0.075, 0.12), lower_lip=u(0.095, 0.15),
            brow_height=u(0.23, 0.31), brow_thickness=u(0.05, 0.085), brow_arch=u(0.08, 0.18),
            skin_rgb=_rgb(skin), hair_rgb=_rgb(hair), hair_style=HAIR_STYLES[_pick(rng, [0.35, 0.2, 0.35, 0.1])],
            brow_rgb=_rgb(brow), iris_rgb=_rgb(iris * u(0.85, 1.15)), lip_rgb=_rgb(lip),
            clothing_rgb=_rgb(rng.uniform(25, 210, 3)), texture_seed=int(rng.integers(0, 2**31 - 1)),
        )


def identity_from_seed(seed: int) -> Identity:
    """The person with this seed: a short, reproducible name for an identity."""
    return Identity.sample(np.random.default_rng(seed))


@dataclass(frozen=True)
class ActionUnits:
    """Expression controls in FACS terms, each an intensity in [0, 1]; all 0 is neutral.

    ``au01_02`` inner + outer brow raiser, ``au04`` brow lowerer, ``au06_12``
    cheek raiser + lip-corner puller (smile), ``au15`` lip-corner depressor,
    ``au25`` lips part, ``au26`` jaw drop, ``au43`` eyes closed.
    """

    au01_02: float = 0.0
    au04: float = 0.0
    au06_12: float = 0.0
    au15: float = 0.0
    au25: float = 0.0
    au26: float = 0.0
    au43: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
                raise ValueError(f"ActionUnits.{f.name} must be a number in [0, 1], got {value!r}")
            if not 0.0 <= float(value) <= 1.0:  # also rejects NaN
                raise ValueError(f"ActionUnits.{f.name} must be in [0, 1], got {value!r}")
            object.__setattr__(self, f.name, float(value))

    @property
    def is_neutral(self) -> bool:
        """True when every action unit is at 0."""
        return all(getattr(self, f.name) == 0.0 for f in fields(self))


#: FACS-plausible presets (EMFACS prototypes mapped onto the available controls).
EXPRESSIONS: dict[str, ActionUnits] = {
    "neutral": ActionUnits(),
    "happy": ActionUnits(au06_12=0.95, au25=0.45),
    "sad": ActionUnits(au01_02=0.55, au04=0.35, au15=0.9, au43=0.15),
    "surprise": ActionUnits(au01_02=1.0, au25=0.6, au26=0.7),
    "angry": ActionUnits(au04=1.0, au15=0.25, au43=0.25),
    "disgust": ActionUnits(au04=0.6, au06_12=0.15, au15=0.55, au25=0.35, au43=0.25),
    "fear": ActionUnits(au01_02=0.9, au04=0.5, au15=0.3, au25=0.6, au26=0.35),
}


@dataclass(frozen=True)
class HeadPlacement:
    """Where the head sits in the frame: in-plane roll (degrees, positive = clockwise
    in the image), scale (1 = a face about half the frame wide) and offset of the
    eye-line centre from its default spot, as fractions of the image side."""

    roll: float = 0.0
    scale: float = 1.0
    offset_x: float = 0.0
    offset_y: float = 0.0

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.roll, self.scale, self.offset_x, self.offset_y)):
            raise ValueError(f"HeadPlacement values must be finite, got {self}")
        if not 0.3 <= self.scale <= 2.0:
            raise ValueError(f"HeadPlacement.scale must be in [0.3, 2], got {self.scale}")

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "HeadPlacement":
        """Small random roll, scale and shift, as in casual photos (so crops need real alignment)."""
        return cls(roll=float(rng.uniform(-12, 12)), scale=float(rng.uniform(0.9, 1.08)),
                   offset_x=float(rng.uniform(-0.04, 0.04)), offset_y=float(rng.uniform(-0.03, 0.03)))


@dataclass
class SyntheticFace:
    """One rendered face: uint8 RGB ``image`` (size, size, 3) and float32 ``landmarks``
    (68, 2) in its pixel coordinates (x, y), with the inputs that made it."""

    image: np.ndarray
    landmarks: np.ndarray
    identity: Identity
    aus: ActionUnits
    placement: HeadPlacement


# --------------------------------------------------------------------------- landmark model


def _mirror(points: np.ndarray) -> np.ndarray:
    """Reflect points about the vertical midline (x -> -x)."""
    return points * np.array([-1.0, 1.0])


def _jaw(idn: Identity, aus: ActionUnits) -> np.ndarray:
    """Points 0-16: a superellipse quarter from ear to chin, equally spaced by arc length."""
    theta = np.linspace(0.0, math.pi / 2, 400)
    e = 2.0 / idn.jaw_squareness
    curve = np.stack([-idn.face_width * np.cos(theta) ** e, idn.face_length * np.sin(theta) ** e], 1)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(curve, axis=0), axis=1))])
    start = np.interp(0.05 * idn.face_length, curve[:, 1], arc)
    at = np.linspace(start, arc[-1], 9)
    left = np.stack([np.interp(at, arc, curve[:, 0]), np.interp(at, arc, curve[:, 1])], 1)
    left[8, 0] = 0.0
    jaw = np.vstack([left, _mirror(left[7::-1])])
    drop = np.array([0, 0, 0.02, 0.08, 0.22, 0.45, 0.7, 0.9, 1.0])
    jaw[:, 1] += 0.3 * aus.au26 * np.concatenate([drop, drop[7::-1]])
    return jaw


def _brows(idn: Identity, aus: ActionUnits) -> np.ndarray:
    """Points 17-26: each brow from its inner end (t=0) to its outer end (t=1), raised by
    AU1+2 (inner more than outer), lowered and drawn together by AU4."""
    t = np.linspace(0.0, 1.0, 5)
    inner = idn.eye_spacing - idn.eye_width / 2 - 0.1
    x = inner + t * (idn.eye_width + 0.32)
    y = -idn.brow_height + 0.1 * t - idn.brow_arch * np.sin(math.pi * t)
    raise_, lower = aus.au01_02, aus.au04
    y += -(0.15 - 0.04 * t) * raise_ - 0.03 * raise_ * np.sin(math.pi * t) + (0.1 - 0.07 * t) * lower
    x -= 0.07 * (1 - t) * lower
    left = np.stack([-x, y], 1)[::-1]
    return np.vstack([left, _mirror(left[::-1])])


def _eyes(idn: Identity, aus: ActionUnits) -> np.ndarray:
    """Points 36-47: lid margins; AU43 brings both lids to a closure line, AU6 lifts the
    lower lid, AU1+2 opens and AU4 narrows the upper lid."""
    half = idn.eye_width / 2
    inner, outer = idn.eye_spacing - half, idn.eye_spacing + half
    corner_y = np.array([0.02 - idn.eye_tilt, 0.02])  # outer, inner
    xs = np.array([outer, idn.eye_spacing + 0.4 * half, idn.eye_spacing - 0.4 * half, inner])
    line = np.interp(xs, [inner, outer], corner_y[::-1])
    up = 0.67 * idn.eye_height * (1 + 0.25 * aus.au01_02 - 0.25 * aus.au04 - 0.15 * aus.au06_12)
    low = 0.33 * idn.eye_height
    closed = line[1:3] + 0.6 * low
    upper = line[1:3] - up
    lower = line[1:3] + low * (1 - 0.5 * aus.au06_12)
    upper = upper + (closed - upper) * aus.au43
    lower = lower + (closed - lower) * aus.au43
    # order: outer corner, upper outer, upper inner, inner corner, lower inner, lower outer
    left = np.stack([-np.array([xs[0], xs[1], xs[2], xs[3], xs[2], xs[1]]),
                     [line[0], upper[0], upper[1], line[3], lower[1], lower[0]]], 1)
    right = _mirror(left[[3, 2, 1, 0, 5, 4]])
    return np.vstack([left, right])


def _nose(idn: Identity, aus: ActionUnits) -> np.ndarray:
    """Points 27-35: bridge from between the eyes to the tip, then the nostril base left to right."""
    tip, base, w = idn.nose_length, idn.nose_length + 0.2, idn.nose_width + 0.015 * aus.au06_12
    bridge = np.stack([np.zeros(4), np.linspace(-0.05, tip, 4)], 1)
    lift = 0.02 * aus.au06_12
    nostrils = np.array([[-w, base - 0.04 - lift], [-w / 2, base - 0.02], [0, base],
                         [w / 2, base - 0.02], [w, base - 0.04 - lift]])
    return np.vstack([bridge, nostrils])


def _mouth(idn: Identity, aus: ActionUnits) -> np.ndarray:
    """Points 48-67: outer lip clockwise from the image-left corner, then the inner lip.

    Smile lifts and widens the corners, AU15 lowers them, AU25 parts the lips
    and AU26 drops the lower lip with the jaw (the mouth also narrows a little).
    """
    mw, my, ul, ll = idn.mouth_width, idn.mouth_y, idn.upper_lip, idn.lower_lip
    ox = np.array([-1, -0.62, -0.25, 0, 0.25, 0.62, 1, 0.65, 0.28, 0, -0.28, -0.65])
    oy = np.array([0.02, -0.7 * ul, -ul, -0.8 * ul, -ul, -0.7 * ul, 0.02, 0.7 * ll, 0.95 * ll, ll, 0.95 * ll, 0.7 * ll])
    ix = np.array([-0.83, -0.26, 0, 0.26, 0.83, 0.26, 0, -0.26])
    iy = np.array([0.015, -0.012, -0.01, -0.012, 0.015, -0.012, -0.01, -0.012])
    rel = np.concatenate([ox, ix])
    y = my + np.concatenate([oy, iy])
    role = np.array(list("clllllcLLLLL" "clllcLLL"))  # c corner, l upper lip, L lower lip
    s, d, p, j = aus.au06_12, aus.au15, 0.1 * aus.au25, 0.3 * aus.au26
    w = np.clip(np.abs(rel), 0, 1) ** 2
    side = np.sign(rel)
    dx = side * (0.1 * s * w - 0.02 * d * w - 0.05 * aus.au26 * np.abs(rel))
    dy = -0.12 * s * w + 0.1 * d * w
    dy += np.select([role == "l", role == "L"], [-0.3 * p, 0.7 * p + 0.9 * j], 0.3 * j)
    outer_lower = np.zeros(20, bool)
    outer_lower[7:12] = True
    dy += np.where(outer_lower, (0.03 * s - 0.02 * d) * (1 - w), 0.0)
    return np.stack([rel * mw + dx, y + dy], 1)


def _model_points(idn: Identity, aus: ActionUnits) -> np.ndarray:
    """The 68 landmarks in face units, in iBUG order."""
    return np.vstack([_jaw(idn, aus), _brows(idn, aus), _nose(idn, aus), _eyes(idn, aus), _mouth(idn, aus)])


@dataclass(frozen=True)
class _Frame:
    """Affine map from face units to output pixels, plus the supersampling factor."""

    size: int
    ss: int
    matrix: np.ndarray  # 2x2, units -> output pixels
    origin: np.ndarray  # output pixel of the face-unit origin

    @classmethod
    def build(cls, size: int, placement: HeadPlacement) -> "_Frame":
        """Frame for this image size and head placement (supersampling 4x up to 256 px, 2x up to 1024, then 1x)."""
        angle = math.radians(placement.roll)
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        unit = UNIT_FRACTION * size * placement.scale
        origin = np.array([(0.5 + placement.offset_x) * size, (EYE_LINE + placement.offset_y) * size])
        return cls(size, 4 if size <= 256 else 2 if size <= 1024 else 1, unit * rot, origin)

    def pixels(self, points: np.ndarray) -> np.ndarray:
        """Face units -> output pixel coordinates (pixel centres at integers)."""
        return np.asarray(points, float) @ self.matrix.T + self.origin

    def canvas(self, points: np.ndarray) -> np.ndarray:
        """Face units -> supersampled canvas coordinates (area downsampling keeps them aligned)."""
        return self.pixels(points) * self.ss + (self.ss - 1) / 2

    @property
    def unit(self) -> float:
        """Canvas pixels per face unit."""
        return float(np.linalg.norm(self.matrix[:, 0])) * self.ss


def face_landmarks(identity: Identity, aus: ActionUnits = ActionUnits(), size: int = 128,
                   placement: HeadPlacement = HeadPlacement()) -> np.ndarray:
    """The 68 landmarks (float32, x then y, pixels) that :func:`render_face` would draw,
    without drawing: cheap geometry for tests and for planning crops."""
    return _Frame.build(size, placement).pixels(_model_points(identity, aus)).astype(np.float32)


# --------------------------------------------------------------------------- drawing primitives


def _spline(points: np.ndarray, closed: bool = False, per_segment: int = 10) -> np.ndarray:
    """Catmull-Rom curve through the points (passes exactly through every one of them)."""
    p = np.asarray(points, float)
    ext = np.vstack([p[-1], p, p[0], p[1]]) if closed else np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    segments = [
        0.5 * (2 * b + (c - a) * t + (2 * a - 5 * b + 4 * c - d) * t**2 + (3 * b - a - 3 * c + d) * t**3)
        for a, b, c, d in zip(ext[:-3], ext[1:-2], ext[2:-1], ext[3:])
    ]
    curve = np.vstack(segments)
    return curve if closed else np.vstack([curve, p[-1]])


def _ellipse(cx: float, cy: float, ax: float, ay: float, start: float = 0.0, stop: float = 360.0, n: int = 48,
             power: float = 2.0) -> np.ndarray:
    """Points on an axis-aligned ellipse arc (degrees, y down) in face units; ``power`` > 2
    gives a squarer superellipse (the skull seen from the front)."""
    a = np.radians(np.linspace(start, stop, n))
    c, s = np.cos(a), np.sin(a)
    e = 2.0 / power
    return np.stack([cx + ax * np.sign(c) * np.abs(c) ** e, cy + ay * np.sign(s) * np.abs(s) ** e], 1)


def _blur(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; large kernels run on a shrunken copy (same look, a fraction of the cost)."""
    if sigma <= 6:
        return cv2.GaussianBlur(mask, (0, 0), sigma)
    k = int(sigma // 3)
    h, w = mask.shape
    small = cv2.resize(mask, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma / k), (w, h), interpolation=cv2.INTER_LINEAR)


@dataclass
class _Mask:
    """A coverage map in [0, 1] over a rectangle of the canvas starting at (y0, x0)."""

    a: np.ndarray
    y0: int
    x0: int

    @classmethod
    def empty(cls) -> "_Mask":
        """Coverage of something that lands outside the canvas."""
        return cls(np.zeros((0, 0), np.float32), 0, 0)

    def __mul__(self, other: "_Mask") -> "_Mask":
        """Coverage of both masks (e.g. the iris clipped to the eye opening)."""
        y0, x0 = max(self.y0, other.y0), max(self.x0, other.x0)
        y1 = min(self.y0 + self.a.shape[0], other.y0 + other.a.shape[0])
        x1 = min(self.x0 + self.a.shape[1], other.x0 + other.a.shape[1])
        if y1 <= y0 or x1 <= x0:
            return _Mask.empty()
        mine = self.a[y0 - self.y0:y1 - self.y0, x0 - self.x0:x1 - self.x0]
        theirs = other.a[y0 - other.y0:y1 - other.y0, x0 - other.x0:x1 - other.x0]
        return _Mask(mine * theirs, y0, x0)


class _Painter:
    """Float RGB canvas at supersampled resolution with soft, clipped paint operations."""

    def __init__(self, frame: _Frame, background: RGB):
        self.frame = frame
        n = frame.size * frame.ss
        shade = np.linspace(1.06, 0.88, n, dtype=np.float32)[:, None, None]
        row = np.asarray(background, np.float32) / 255
        self.img = np.ascontiguousarray(np.clip(np.broadcast_to(row * shade, (n, n, 3)), 0, 1))

    def mask(self, shapes: Sequence[np.ndarray], blur: float = 0.0, width: float = 0.0, closed: bool = True) -> _Mask:
        """Coverage of filled polygons (or polylines ``width`` face units thick), blurred by
        ``blur`` face units; empty when nothing lands on the canvas."""
        unit, n = self.frame.unit, self.img.shape[0]
        pts = [self.frame.canvas(s) for s in shapes]
        sigma, thick = blur * unit, max(1, round(width * unit)) if width else 0
        margin = 3 * sigma + thick + 2
        every = np.vstack(pts)
        x0, y0 = (np.floor(every.min(0) - margin).astype(int)).clip(0, n)
        x1, y1 = (np.ceil(every.max(0) + margin).astype(int) + 1).clip(0, n)
        if x1 <= x0 or y1 <= y0:
            return _Mask.empty()
        cover = np.zeros((y1 - y0, x1 - x0), np.uint8)
        shifted = [np.round((p - [x0, y0]) * 16).astype(np.int32) for p in pts]
        if width:
            cv2.polylines(cover, shifted, closed, 255, thick, cv2.LINE_AA, shift=4)
        else:
            for poly in shifted:
                cv2.fillPoly(cover, [poly], 255, cv2.LINE_AA, shift=4)
        a = cover.astype(np.float32) / 255
        return _Mask(_blur(a, sigma) if sigma > 0.3 else a, int(y0), int(x0))

    def _region(self, m: _Mask) -> np.ndarray:
        return self.img[m.y0:m.y0 + m.a.shape[0], m.x0:m.x0 + m.a.shape[1]]

    def paint(self, m: _Mask, colour: Sequence[float], alpha: float = 1.0) -> None:
        """Cover with a colour (RGB in 0-255) at opacity ``alpha`` times the coverage."""
        region, a = self._region(m), (alpha * m.a)[..., None]
        region *= 1 - a
        region += a * (np.asarray(colour, np.float32) / 255)

    def multiply(self, m: _Mask, strength: float, tint: Sequence[float] = (0.0, 0.0, 0.0)) -> None:
        """Shadow: scale towards ``tint`` (per-channel factors, 0 = black) by ``strength``."""
        self._region(m)[...] *= 1 - (strength * m.a)[..., None] * (1 - np.asarray(tint, np.float32))

    def lighten(self, m: _Mask, strength: float) -> None:
        """Highlight: move towards white by ``strength`` times the coverage."""
        region = self._region(m)
        region += (1 - region) * (strength * m.a)[..., None]

    def texture(self, m: _Mask, noise: np.ndarray, bounds: tuple[float, float, float, float], strength: float) -> None:
        """Modulate brightness inside ``m`` by a noise grid laid over the face-unit box ``bounds``."""
        if m.a.size == 0:
            return
        left, top, right, bottom = bounds
        gh, gw = noise.shape
        grid = np.array([[(right - left) / (gw - 1), 0, left], [0, (bottom - top) / (gh - 1), top], [0, 0, 1]])
        f = self.frame
        shift = f.origin * f.ss + (f.ss - 1) / 2 - [m.x0, m.y0]
        to_canvas = np.vstack([np.hstack([f.matrix * f.ss, shift[:, None]]), [0, 0, 1]])
        warp = (to_canvas @ grid)[:2].astype(np.float32)
        field = cv2.warpAffine(noise.astype(np.float32), warp, (m.a.shape[1], m.a.shape[0]), flags=cv2.INTER_CUBIC)
        self._region(m)[...] *= (1 + strength * field * m.a)[..., None]

    def result(self) -> np.ndarray:
        """Area-average the canvas down to the output size as uint8 RGB."""
        size = self.frame.size
        small = cv2.resize(np.clip(self.img, 0, 1), (size, size), interpolation=cv2.INTER_AREA)
        return np.round(small * 255).astype(np.uint8)


# --------------------------------------------------------------------------- the face, part by part


def _scaled(colour: Sequence[float], factor: float | Sequence[float]) -> tuple[float, float, float]:
    """A colour multiplied per channel (shadowed or tinted variants of skin, hair, lips)."""
    c = np.clip(np.asarray(colour, float) * np.asarray(factor, float), 0, 255)
    return (float(c[0]), float(c[1]), float(c[2]))


def _cranium(idn: Identity, pts: np.ndarray, grow: float = 1.0) -> tuple[float, float, float]:
    """Centre height, half width and half height of the skull ellipse (scaled by ``grow``)."""
    y0 = float(pts[16, 1])
    return y0, float(pts[16, 0]) * grow, (y0 + idn.forehead_height) * grow


def _face_outline(idn: Identity, pts: np.ndarray) -> np.ndarray:
    """Closed outline of the skin of the face: the jaw through points 0-16, then the forehead arc."""
    y0, ax, ay = _cranium(idn, pts)
    return np.vstack([_spline(pts[:17]), _ellipse(0, y0, ax, ay, 0, -180, 40, SKULL_POWER)[1:-1]])


def _draw_back_hair(p: _Painter, idn: Identity, pts: np.ndarray) -> None:
    """Long hair behind the head and shoulders (drawn first, everything else covers it)."""
    if idn.hair_style != "long":
        return
    y0, ax, ay = _cranium(idn, pts, 1.13)
    chin = idn.face_length  # the resting chin: shoulders and hair do not move with the jaw
    shape = np.vstack([_ellipse(0, y0, ax, ay, 0, -180, 40, SKULL_POWER),
                       [[-ax * 1.06, chin * 0.7], [-1.3, chin + 0.9], [1.3, chin + 0.9], [ax * 1.06, chin * 0.7]]])
    p.paint(p.mask([shape], blur=0.01), _scaled(idn.hair_rgb, 0.6))


def _draw_body(p: _Painter, idn: Identity, pts: np.ndarray) -> None:
    """Neck with the shadow of the head, and clothed shoulders."""
    chin, half = idn.face_length, float(pts[16, 0])  # the resting chin: the body stays when the jaw drops
    neck = np.array([[-0.58 * half, 0.5], [0.58 * half, 0.5], [0.62 * half, chin + 1.3], [-0.62 * half, chin + 1.3]])
    p.paint(p.mask([neck]), _scaled(idn.skin_rgb, (0.86, 0.82, 0.8)))
    p.multiply(p.mask([pts[:17] + [0, 0.16]], blur=0.06), 0.55, (0.5, 0.38, 0.34))
    p.multiply(p.mask([neck]) * _edge_band(p, [neck], 0.12), 0.5, (0.5, 0.4, 0.36))
    shoulder = chin + 0.62
    cloth = np.vstack([_spline(np.array([[0.6 * half, shoulder], [0, shoulder + 0.22], [-0.6 * half, shoulder]])),
                       [[-1.5, shoulder + 0.25], [-2.3, shoulder + 0.7], [-2.7, 7],
                        [2.7, 7], [2.3, shoulder + 0.7], [1.5, shoulder + 0.25]]])
    p.paint(p.mask([cloth]), idn.clothing_rgb)
    p.multiply(p.mask([cloth]) * _edge_band(p, [cloth], 0.15), 0.6)


def _edge_band(p: _Painter, shapes: Sequence[np.ndarray], blur: float) -> _Mask:
    """Coverage that is 1 outside a blurred copy of the shapes: the rim used for rounded shading."""
    m = p.mask(shapes, blur=blur)
    return _Mask(1 - m.a, m.y0, m.x0)


def _draw_ears(p: _Painter, idn: Identity, pts: np.ndarray) -> None:
    """Ears at the sides of the head, between eye and nose-tip height."""
    for side in (-1, 1):
        x = side * (float(pts[16, 0]) + 0.03)
        ear = _ellipse(x, 0.25, 0.13, 0.27)
        p.paint(p.mask([ear]), _scaled(idn.skin_rgb, 0.93))
        p.multiply(p.mask([_ellipse(x + side * 0.03, 0.27, 0.06, 0.16)], blur=0.03), 0.35, (0.7, 0.45, 0.4))


def _draw_skin(p: _Painter, idn: Identity, aus: ActionUnits, pts: np.ndarray) -> _Mask:
    """Face skin with seeded texture, darker rim, shading and expression wrinkles; returns the
    face coverage (the front hair casts its shadow inside it)."""
    outline = _face_outline(idn, pts)
    face = p.mask([outline])
    p.paint(face, idn.skin_rgb)
    noise = cv2.GaussianBlur(np.random.default_rng([idn.texture_seed, 3]).normal(0, 1, (64, 64)), (0, 0), 0.7)
    p.texture(face, noise, (-1.4, -1.8, 1.4, 2.0), 0.03)
    p.multiply(face * _edge_band(p, [outline], 0.22), 0.55, (0.45, 0.35, 0.3))
    for side in (-1, 1):
        _shade_side(p, idn, aus, pts, face, side)
    p.lighten(p.mask([_ellipse(0, -0.7, 0.5, 0.28)], blur=0.15), 0.08)
    p.lighten(p.mask([_ellipse(pts[8, 0], pts[8, 1] - 0.22, 0.18, 0.1)], blur=0.06), 0.07)
    p.multiply(p.mask([_ellipse(pts[57, 0], pts[57, 1] + 0.07, idn.mouth_width * 0.5, 0.04)], blur=0.035), 0.25)
    _draw_wrinkles(p, aus, pts)
    return face


def _shade_side(p: _Painter, idn: Identity, aus: ActionUnits, pts: np.ndarray, face: _Mask, side: int) -> None:
    """One half of the face (side -1 = image left): eye socket, cheek blush and highlight (raised
    by a smile), hollow under the cheekbone, nasolabial fold (deepened by a smile)."""
    s = aus.au06_12
    eye = pts[36:42] if side < 0 else pts[42:48]
    cx, cy = eye[:, 0].mean(), eye[:, 1].mean()
    p.multiply(p.mask([_ellipse(cx, cy - 0.05, 0.27, 0.16)], blur=0.07), 0.25, (0.6, 0.45, 0.45))
    p.multiply(p.mask([_ellipse(side * 0.52, 0.52 - 0.06 * s, 0.22, 0.15)], blur=0.1), 0.2 + 0.2 * s, (1.0, 0.7, 0.68))
    p.lighten(p.mask([_ellipse(side * 0.45, 0.4 - 0.07 * s, 0.15, 0.09 + 0.03 * s)], blur=0.07), 0.05 + 0.1 * s)
    p.multiply(p.mask([_ellipse(side * 0.82, 0.8, 0.12, 0.25)], blur=0.1) * face, 0.12)
    corner, ala = (pts[48], pts[31]) if side < 0 else (pts[54], pts[35])
    fold = np.array([ala + [side * 0.04, -0.02], [corner[0] + side * 0.07, (ala[1] + corner[1]) / 2],
                     corner + [side * 0.06, 0.09]])
    p.multiply(p.mask([_spline(fold)], blur=0.025, width=0.02, closed=False), 0.1 + 0.35 * s, (0.5, 0.35, 0.3))


def _draw_wrinkles(p: _Painter, aus: ActionUnits, pts: np.ndarray) -> None:
    """Horizontal forehead lines with AU1+2, vertical lines between the brows with AU4."""
    brow_y = float(pts[17:27, 1].mean())
    lines = [_ellipse(0, brow_y - d + 0.4, 0.5, 0.4, -125, -55, 16) for d in (0.22, 0.32, 0.42)]
    p.multiply(p.mask(lines, blur=0.012, width=0.012, closed=False), 0.35 * aus.au01_02, (0.5, 0.4, 0.4))
    glabella = [np.array([[x, pts[21, 1] - 0.02], [x * 0.9, pts[21, 1] + 0.12]]) for x in (-0.05, 0.05)]
    p.multiply(p.mask(glabella, blur=0.012, width=0.014, closed=False), 0.45 * aus.au04, (0.5, 0.4, 0.4))


def _draw_nose(p: _Painter, idn: Identity, pts: np.ndarray) -> None:
    """Nose sides in shadow, lit bridge and tip, nostril wings and nostrils, shadow below."""
    tip, base = pts[30], pts[33]
    for side, ala in ((-1, pts[31]), (1, pts[35])):
        wall = np.array([[side * 0.09, pts[27, 1] + 0.04], [side * 0.11, pts[29, 1]], ala + [-side * 0.02, -0.1]])
        p.multiply(p.mask([_spline(wall)], blur=0.035, width=0.04, closed=False), 0.4, (0.55, 0.4, 0.35))
        start, stop = (-120, 110) if side < 0 else (-60, 250)
        wing = _ellipse(ala[0] - side * 0.04, ala[1] - 0.035, 0.06, 0.055, start, stop, 20)
        p.multiply(p.mask([wing], blur=0.012, width=0.016, closed=False), 0.45, (0.5, 0.35, 0.3))
        nostril = _ellipse((ala[0] + pts[32 if side < 0 else 34, 0]) / 2, base[1] - 0.025, 0.048, 0.024)
        p.paint(p.mask([nostril], blur=0.01), _scaled(idn.skin_rgb, (0.25, 0.16, 0.16)), 0.9)
    p.lighten(p.mask([np.array([pts[27] + [0, 0.05], tip - [0, 0.05]])], blur=0.03, width=0.035, closed=False), 0.12)
    p.lighten(p.mask([_ellipse(tip[0], tip[1] + 0.02, 0.06, 0.05)], blur=0.03), 0.2)
    below = _ellipse(base[0], base[1] + 0.04, idn.nose_width * 0.8, 0.035)
    p.multiply(p.mask([below], blur=0.025), 0.4, (0.5, 0.35, 0.3))


def _draw_eye(p: _Painter, idn: Identity, eye: np.ndarray, outward: int) -> None:
    """One eye from its six lid points (corner, two upper, corner, two lower, going round).

    Sclera shaded under the lids, iris with limbal ring, pupil and catchlight,
    lash line, lower lid and lid crease. A closed eye leaves only lid and lashes.
    """
    upper = _spline(eye[0:4])
    lower = _spline(eye[[3, 4, 5, 0]])
    opening = p.mask([np.vstack([upper, lower[1:-1]])])
    centre = (eye[0] + eye[3]) / 2 - [0, 0.005]
    radius = 0.47 * float(np.linalg.norm(eye[3] - eye[0])) / 2
    p.paint(opening, (236, 230, 224))
    iris = p.mask([_ellipse(*centre, radius, radius)])
    p.paint(iris * opening, idn.iris_rgb)
    p.multiply(iris * opening * _edge_band(p, [_ellipse(*centre, radius * 0.8, radius * 0.8)], 0.01), 0.6)
    p.paint(p.mask([_ellipse(*centre, radius * 0.42, radius * 0.42)]) * opening, (12, 10, 10))
    glint = _ellipse(centre[0] - 0.3 * radius, centre[1] - 0.35 * radius, radius * 0.17, radius * 0.17, n=16)
    p.paint(p.mask([glint]) * opening, (250, 250, 250), 0.9)
    p.multiply(opening * _edge_band(p, [np.vstack([upper, lower[1:-1]])], 0.02), 0.45, (0.55, 0.5, 0.5))
    p.multiply(p.mask([upper], blur=0.018, width=0.035, closed=False) * opening, 0.35)
    outer_first = outward * (eye[0, 0] - eye[3, 0]) > 0
    flick = (eye[0] if outer_first else eye[3]) + [outward * 0.03, -0.012]
    lashes = np.vstack([flick, upper]) if outer_first else np.vstack([upper, flick])
    p.paint(p.mask([lashes], blur=0.004, width=0.02, closed=False), _scaled(idn.brow_rgb, 0.45), 0.9)
    p.multiply(p.mask([lower], blur=0.006, width=0.01, closed=False), 0.3, (0.5, 0.35, 0.35))
    crease = eye[0:4] + np.array([[0, -0.02], [0, -0.065], [0, -0.065], [0, -0.02]])
    p.multiply(p.mask([_spline(crease)], blur=0.012, width=0.012, closed=False), 0.3, (0.5, 0.35, 0.3))


def _draw_brows(p: _Painter, idn: Identity, pts: np.ndarray) -> None:
    """Brows as tapered bands hanging from points 17-21 and 22-26, with seeded hair strokes."""
    rng = np.random.default_rng([idn.texture_seed, 2])
    for brow in (pts[21:16:-1], pts[22:27]):  # each from inner to outer end
        curve = _spline(brow, per_segment=8)
        tangent = np.gradient(curve, axis=0)
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
        normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1)
        normal *= np.sign(normal[:, 1:2] + 1e-9)  # pointing down
        thick = idn.brow_thickness * np.interp(np.linspace(0, 1, len(curve)), [0, 0.3, 1], [1.0, 1.0, 0.4])[:, None]
        band = np.vstack([curve - normal * thick * 0.3, (curve + normal * thick * 0.7)[::-1]])
        p.paint(p.mask([band], blur=0.01), idn.brow_rgb, 0.75)
        t = rng.uniform(0, 1, 60)
        k = np.minimum((t * (len(curve) - 1)).astype(int), len(curve) - 1)
        start = curve[k] + normal[k] * (rng.uniform(-0.2, 0.6, (60, 1)) * thick[k])
        angle = np.radians(70 - 55 * t)[:, None]
        direction = tangent[k] * np.cos(angle) - normal[k] * np.sin(angle)
        strokes = [np.array([a, a + d * rng.uniform(0.04, 0.07)]) for a, d in zip(start, direction)]
        p.paint(p.mask(strokes, width=0.008, closed=False), _scaled(idn.brow_rgb, 0.7), 0.6)


def _draw_mouth(p: _Painter, idn: Identity, pts: np.ndarray) -> None:
    """Lips through points 48-67 (upper lip in shade, lower lip with a highlight, dark line
    between them); parted lips show the inside of the mouth."""
    outer, inner = pts[48:60], pts[60:68]
    upper_out, lower_out = _spline(outer[0:7]), _spline(outer[[6, 7, 8, 9, 10, 11, 0]])
    upper_in, lower_in = _spline(inner[0:5]), _spline(inner[[4, 5, 6, 7, 0]])
    if pts[66, 1] - pts[62, 1] > 0.005:
        _draw_open_mouth(p, idn, pts, upper_in, lower_in)
    p.paint(p.mask([np.vstack([upper_out, upper_in[::-1]])], blur=0.006), _scaled(idn.lip_rgb, 0.86))
    lower = p.mask([np.vstack([lower_out, lower_in[::-1]])], blur=0.006)
    p.paint(lower, idn.lip_rgb)
    shine = _ellipse(pts[57, 0], (pts[57, 1] + pts[66, 1]) / 2 - 0.005, idn.mouth_width * 0.35, idn.lower_lip * 0.22)
    p.lighten(p.mask([shine], blur=0.02) * lower, 0.14)
    p.multiply(p.mask([upper_in], blur=0.006, width=0.014, closed=False), 0.5, (0.4, 0.2, 0.2))
    corners = [_ellipse(*pts[i], 0.018, 0.018, n=12) for i in (48, 54)]
    p.multiply(p.mask(corners, blur=0.015), 0.35, (0.4, 0.25, 0.25))


def _draw_open_mouth(p: _Painter, idn: Identity, pts: np.ndarray, upper_in: np.ndarray, lower_in: np.ndarray) -> None:
    """Inside of parted lips (inner lip curves 60->64 and 64->60): dark mouth, tongue, upper
    teeth, and lower teeth when wide open."""
    gap = float(pts[66, 1] - pts[62, 1])
    opening = np.vstack([upper_in, lower_in[1:-1]])
    cavity = p.mask([opening])
    p.paint(cavity, (60, 18, 20))
    tongue = _ellipse(pts[66, 0], pts[66, 1], idn.mouth_width * 0.45, gap * 0.4)
    p.paint(p.mask([tongue], blur=0.02) * cavity, (150, 60, 64), 0.7)
    front = upper_in[np.abs(upper_in[:, 0] - pts[62, 0]) < 0.8 * abs(pts[64, 0] - pts[60, 0]) / 2]
    edge = pts[62, 1] + 0.055
    teeth = p.mask([np.vstack([front, [[front[-1, 0], edge], [front[0, 0], edge]]])], blur=0.006) * cavity
    p.paint(teeth, (232, 226, 210))
    lower_teeth = p.mask([np.vstack([lower_in, (lower_in - [0, 0.03])[::-1]])], blur=0.004) * cavity
    p.paint(lower_teeth, (220, 212, 196), float(np.clip((gap - 0.15) / 0.2, 0, 0.5)))
    gaps = [pts[62] + np.array([[dx, 0], [dx * 0.97, 0.06]]) for dx in (-0.11, -0.075, -0.04, 0, 0.04, 0.075, 0.11)]
    p.multiply(p.mask(gaps, blur=0.004, width=0.005, closed=False) * teeth, 0.18)
    p.multiply(cavity * _edge_band(p, [opening], 0.03), 0.6)


def _hairline(idn: Identity, pts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lower edge of the front hair from the left sideburn to the right one."""
    half = float(pts[16, 0])
    if idn.hair_style == "fringe":
        xs = np.linspace(-0.9, 0.9, 13) * half
        depth = idn.brow_height + idn.brow_arch + 0.14
        ys = -depth + np.where(np.arange(13) % 2 == 0, 0.03, -0.04) + rng.uniform(-0.02, 0.02, 13)
        middle = np.stack([xs, ys], 1)
    else:
        hl = idn.hairline
        middle = np.array([[-0.72, -0.8], [-0.4, -0.96], [0, -1], [0.4, -0.96], [0.72, -0.8]]) * [half, hl]
    ends = np.array([[-(half - 0.02), 0.18], [-(half - 0.07), -0.4]])
    return _spline(np.vstack([ends, middle, _mirror(ends[::-1])]), per_segment=6)


def _hair_shapes(idn: Identity, pts: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Polygons of the hair in front of the face for the identity's style."""
    y0, ax, ay = _cranium(idn, pts)
    if idn.hair_style == "bald":
        return [np.vstack([_ellipse(0, y0, ax, ay, a, b, 12, SKULL_POWER),
                           _ellipse(0, y0, ax * 0.93, ay * 0.95, b, a, 12, SKULL_POWER)])
                for a, b in ((-148, -185), (5, -32))]
    ax, ay = ax + 0.08, ay + 0.07
    shapes = [np.vstack([_ellipse(0, y0, ax, ay, 8, -188, 48, SKULL_POWER), _hairline(idn, pts, rng)])]
    if idn.hair_style == "long":
        chin = idn.face_length  # the resting chin: shoulders and hair do not move with the jaw
        for side in (-1, 1):
            j = pts[:6] if side < 0 else pts[16:10:-1]
            curtain = np.array([[side * ax, y0], [side * ax * 1.08, chin * 0.6], [side * 1.28, chin + 0.75],
                                [side * 0.95, chin + 0.95], [side * 0.72, chin + 0.7], j[5] + [side * 0.1, 0.1],
                                j[3] + [side * 0.03, 0], j[1] + [side * 0.01, 0],
                                [side * (ax / 1.08 - 0.02), -0.3]])
            shapes.append(curtain)
    return shapes


def _strands(shapes: Sequence[np.ndarray], idn: Identity, rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """Seeded, gently curved hair strands flowing from the crown over the hair shapes."""
    every = np.vstack(shapes)
    lo, hi = every.min(0), every.max(0)
    crown = np.array([0.0, -idn.forehead_height * 0.6])
    out = []
    for start in rng.uniform(lo, hi, (count, 2)):
        flow = start - crown
        flow /= np.linalg.norm(flow) + 1e-9
        if idn.hair_style == "long" and start[1] > 0:
            flow = np.array([0.15 * np.sign(start[0]), 1.0])
        bend = rng.normal(0, 0.3)
        length = rng.uniform(0.15, 0.4)
        steps = np.linspace(0, 1, 5)[:, None]
        side = np.array([-flow[1], flow[0]])
        out.append(start + flow * steps * length + side * bend * length * steps**2)
    return out


def _draw_hair(p: _Painter, idn: Identity, pts: np.ndarray, face: _Mask) -> None:
    """Front hair: shadow on the forehead, flat colour, light and dark strands, a sheen band."""
    rng = np.random.default_rng([idn.texture_seed, 1])
    shapes = _hair_shapes(idn, pts, rng)
    p.multiply(p.mask([s + [0, 0.05] for s in shapes], blur=0.05) * face, 0.4, (0.5, 0.38, 0.33))
    hair = p.mask(shapes, blur=0.006)
    p.paint(hair, idn.hair_rgb, 0.75 if idn.hair_style == "bald" else 1.0)
    light, dark = [p.mask(_strands(shapes, idn, rng, 500), blur=0.003, width=0.007, closed=False) * hair for _ in "ld"]
    p.paint(light, _scaled(idn.hair_rgb, 1.4), 0.35)
    p.multiply(dark, 0.3)
    y0, ax, ay = _cranium(idn, pts, 0.85)
    p.lighten(p.mask([_ellipse(0, y0, ax, ay + 0.1, -150, -30, 24)], blur=0.07, width=0.1, closed=False) * hair, 0.16)
    p.multiply(hair * _edge_band(p, shapes, 0.08), 0.25)


def render_face(identity: Identity, aus: ActionUnits = ActionUnits(), size: int = 128,
                placement: HeadPlacement = HeadPlacement(), background: RGB = (200, 200, 196)) -> SyntheticFace:
    """Draw one face and return it with its exact 68 landmarks.

    The landmarks are computed first (identity + action units + placement) and
    every part is drawn through them on a supersampled canvas, then area
    downsampled: anti-aliased at any ``size`` (16-2048 px) and bit-identical for
    identical inputs.
    """
    if not 16 <= int(size) <= 2048:
        raise ValueError(f"size must be between 16 and 2048 pixels, got {size}")
    size = int(size)
    frame = _Frame.build(size, placement)
    pts = _model_points(identity, aus)
    p = _Painter(frame, background)
    _draw_back_hair(p, identity, pts)
    _draw_body(p, identity, pts)
    _draw_ears(p, identity, pts)
    face = _draw_skin(p, identity, aus, pts)
    _draw_nose(p, identity, pts)
    _draw_mouth(p, identity, pts)
    _draw_eye(p, identity, pts[36:42], -1)
    _draw_eye(p, identity, pts[42:48], 1)
    _draw_brows(p, identity, pts)
    _draw_hair(p, identity, pts, face)
    return SyntheticFace(p.result(), frame.pixels(pts).astype(np.float32), identity, aus, placement)


# --------------------------------------------------------------------------- datasets


def _jitter(aus: ActionUnits, rng: np.random.Generator, amount: float = 0.06) -> ActionUnits:
    """The same expression performed again: active action units vary a little, inactive stay 0."""
    changes = {f.name: float(np.clip(getattr(aus, f.name) + rng.normal(0, amount), 0.0, 1.0))
               for f in fields(aus) if getattr(aus, f.name) > 0}
    return replace(aus, **changes)


def _background(rng: np.random.Generator) -> RGB:
    """A plain, light studio backdrop with a slight tint."""
    level = rng.uniform(150, 235)
    return _rgb(level + rng.uniform(-12, 12, 3))


def generate_dataset(out_dir: str | Path, n_subjects: int = 12,
                     expressions: Sequence[str] = ("neutral", "happy", "sad", "surprise"),
                     size: int = 128, seed: int = 0, takes: int = 1, vary_placement: bool = True) -> list[Path]:
    """Write ``out_dir/<subject>/<expression>/<take>.png`` (subjects ``s000``..., takes ``1``...)
    with a landmark sidecar beside each image; returns the image paths.

    Subject ``i`` depends only on ``(seed, i)``, so asking for more subjects
    keeps the first ones. Takes of one subject and expression differ by head
    placement (when ``vary_placement``) and a small jitter of the active action
    units; neutral stays exactly neutral.
    """
    unknown = [e for e in expressions if e not in EXPRESSIONS]
    if unknown:
        raise ValueError(f"unknown expression(s) {', '.join(unknown)}; choose from {', '.join(EXPRESSIONS)}")
    if n_subjects < 1 or takes < 1:
        raise ValueError(f"n_subjects and takes must be at least 1, got {n_subjects} and {takes}")
    out_dir = Path(out_dir)
    written = []
    for subject in range(n_subjects):
        rng = np.random.default_rng([seed, subject])
        identity, background = Identity.sample(rng), _background(rng)
        for expression in expressions:
            for take in range(1, takes + 1):
                shot = np.random.default_rng([seed, subject, zlib.crc32(expression.encode()), take])
                placement = HeadPlacement.sample(shot) if vary_placement else HeadPlacement()
                face = render_face(identity, _jitter(EXPRESSIONS[expression], shot), size, placement, background)
                path = out_dir / f"s{subject:03d}" / expression / f"{take}.png"
                write_image_atomic(path, face.image)
                write_landmarks_sidecar(path, face.landmarks)
                written.append(path)
    return written
