"""JAFFE (Japanese Female Facial Expression): ``KA.HA1.29.tiff``.

The name holds the subject's initials (``KA``), a two-letter expression code
(AN angry, DI disgust, FE fear, HA happy, NE neutral, SA sad, SU surprise), the
take digit (``1``: the first shot of that expression) and the image number
(``29``, kept in meta ``image_number``). The code is kept in meta ``label``.
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
from facexpr.data.records import FaceRecord, Skip

FORMAT = "jaffe"
CODES = {"AN": "angry", "DI": "disgust", "FE": "fear", "HA": "happy", "NE": "neutral", "SA": "sad", "SU": "surprise"}
_NAME = re.compile(r"^([A-Z]{2})\.([A-Z]{2})(\d)\.(\d+)\.[a-z0-9]+$", re.IGNORECASE)


def _named(path: Path) -> bool:
    """True for a JAFFE file name with a known expression code."""
    match = _NAME.match(path.name)
    return bool(match) and match.group(2).upper() in CODES


def matches(root: Path) -> bool:
    """Cheap check: most images near ``root`` are named like ``KA.HA1.29.tiff``."""
    return mostly_named(root, is_image, _named)


def read(root: Path) -> ReadResult:
    """Read every JAFFE image under ``root`` (see the module docstring for the fields)."""
    root = dataset_folder(root)
    records: list[FaceRecord] = []
    skipped: list[Skip] = []
    for path in filter(is_image, walk_files(root)):
        match = _NAME.match(path.name)
        if not match:
            skipped.append(Skip(str(path), "name does not follow the JAFFE pattern XX.YYn.N.<image extension>"))
            continue
        subject, code, take, number = match.group(1).upper(), match.group(2).upper(), match.group(3), match.group(4)
        if code not in CODES:
            reason = f"unknown JAFFE expression code {code} (expected one of {', '.join(CODES)})"
            skipped.append(Skip(str(path), reason, subject=subject))
            continue
        meta = {"label": code, "image_number": int(number)}
        records.append(FaceRecord(str(path), subject, CODES[code], take, FORMAT, meta=meta))
    return finish(FORMAT, root, records, skipped)
