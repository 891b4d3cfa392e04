"""RaFD (Radboud Faces Database): ``Rafd090_01_Caucasian_female_happy_frontal.jpg``.

The name reads camera angle (000-180 degrees; 090 is frontal), subject id,
ethnicity, gender, expression (angry, contemptuous, disgusted, fearful, happy,
neutral, sad, surprised) and gaze (frontal, left, right). Subject is the id
(``01``); take is angle-gaze (``090-frontal``); meta holds ``label`` (the
expression as written), ``angle`` (int), ``gaze``, ``ethnicity`` and ``gender``.
"""

from __future__ import annotations

import re
from pathlib import Path

from facexpr.data.readers.base import (
    ReadResult,
    dataset_folder,
    finish,
    is_image,
    mostly_named,
    walk_files,
)
from facexpr.data.records import FaceRecord, Skip, normalize_expression

FORMAT = "rafd"
LABELS = ("angry", "contemptuous", "disgusted", "fearful", "happy", "neutral", "sad", "surprised")
_NAME = re.compile(
    r"^rafd(\d{3})_(\d+)_([a-z]+)_(female|male)_([a-z]+)_(frontal|left|right)\.[a-z0-9]+$", re.IGNORECASE
)


def _named(path: Path) -> bool:
    """True for a RaFD file name (any expression word)."""
    return bool(_NAME.match(path.name))


def matches(root: Path) -> bool:
    """Cheap check: most images near ``root`` are named like ``Rafd090_01_..._frontal.jpg``."""
    return mostly_named(root, is_image, _named)


def read(root: Path) -> ReadResult:
    """Read every RaFD image under ``root`` (see the module docstring for the fields)."""
    root = dataset_folder(root)
    records: list[FaceRecord] = []
    skipped: list[Skip] = []
    for path in filter(is_image, walk_files(root)):
        match = _NAME.match(path.name)
        if not match:
            reason = "name does not follow the RaFD pattern Rafd090_01_Caucasian_female_happy_frontal.jpg"
            skipped.append(Skip(str(path), reason))
            continue
        angle, subject, ethnicity, gender, label, gaze = match.groups()
        label, gaze = label.lower(), gaze.lower()
        if label not in LABELS:
            reason = f"unknown RaFD expression {label!r} (expected one of {', '.join(LABELS)})"
            skipped.append(Skip(str(path), reason, subject=subject))
            continue
        meta = {
            "label": label,
            "angle": int(angle),
            "gaze": gaze,
            "ethnicity": ethnicity.lower(),
            "gender": gender.lower(),
        }
        take = f"{angle}-{gaze}"
        records.append(FaceRecord(str(path), subject, normalize_expression(label), take, FORMAT, meta=meta))
    return finish(FORMAT, root, records, skipped)
