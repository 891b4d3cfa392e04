"""Landmark sidecars: known 68-point landmarks stored beside an image as ``NAME.landmarks.json``.

When a sidecar exists (the synthetic generator writes one for every face),
``facexpr prepare`` aligns with those exact landmarks instead of detecting
them; everything else in the face pipeline is the same as for photos.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from facexpr.data.readers.base import IMAGE_SUFFIXES
from facexpr.io import write_text_atomic

SIDECAR_SUFFIX = ".landmarks.json"


def sidecar_path(image_path: str | Path) -> Path:
    """Where the landmarks of an image live: ``1.png`` -> ``1.landmarks.json``.

    Files without an image suffix (``subject01.happy``) keep their whole name
    (``subject01.happy.landmarks.json``) so that siblings never share a sidecar.
    """
    path = Path(image_path)
    stem = path.stem if path.suffix.lower() in IMAGE_SUFFIXES else path.name
    return path.with_name(stem + SIDECAR_SUFFIX)


def write_landmarks_sidecar(image_path: str | Path, landmarks: np.ndarray) -> Path:
    """Store an image's 68 known landmarks (pixels, x then y) beside it, atomically, so the
    face pipeline uses them instead of running detection; returns the sidecar path."""
    points = np.asarray(landmarks, dtype=float)
    if points.shape != (68, 2) or not np.isfinite(points).all():
        raise ValueError(f"landmarks must be 68 finite (x, y) pairs, got an array of shape {points.shape}")
    path = sidecar_path(image_path)
    payload = {"landmarks": [[round(float(x), 4), round(float(y), 4)] for x, y in points]}
    write_text_atomic(path, json.dumps(payload, separators=(",", ":")))
    return path


def read_landmarks_sidecar(image_path: str | Path) -> np.ndarray | None:
    """The (68, 2) float32 landmarks stored beside an image, or None when there are none.

    A sidecar that cannot be used (bad JSON, wrong shape) is reported with a
    warning and ignored, so the face is detected as for any photo.
    """
    path = sidecar_path(image_path)
    if not path.is_file():
        return None
    try:
        points = np.asarray(json.loads(path.read_text(encoding="utf-8"))["landmarks"], dtype=np.float32)
    except (OSError, ValueError, KeyError, TypeError) as error:
        warnings.warn(f"{path}: unreadable landmark sidecar ignored ({error})", stacklevel=2)
        return None
    if points.shape != (68, 2) or not np.isfinite(points).all():
        warnings.warn(f"{path}: landmark sidecar ignored (expected 68 finite (x, y) pairs, got shape {points.shape})",
                      stacklevel=2)
        return None
    return points
