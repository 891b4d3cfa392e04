"""KDEF (Karolinska Directed Emotional Faces): ``KDEF/AF01/AF01HAS.JPG``.

The name reads session (A or B), gender (F or M), a two-digit sitter id, an
expression code (AF afraid, AN angry, DI disgusted, HA happy, NE neutral, SA
sad, SU surprised) and a one- or two-letter view code (S straight, HL/HR half
left/right, FL/FR full left/right). The fields have fixed widths, so
``AF01AFFR`` parses as session A, female 01, afraid, full right.

Subject is gender + id (``F01``: the same person in both sessions); take is
session-view (``A-S``, ``B-HL``) because ``prepare`` names crops after
expression and take, and the ten shots of an expression (two sessions x five
views) must not share one. Meta holds ``label`` (the code), ``session``,
``gender``, ``view`` (the code) and ``view_name``. Files may sit in per-sitter
folders or anywhere below the root.
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

FORMAT = "kdef"
CODES = {"AF": "fear", "AN": "angry", "DI": "disgust", "HA": "happy", "NE": "neutral", "SA": "sad", "SU": "surprise"}
VIEWS = {"S": "straight", "HL": "half left", "HR": "half right", "FL": "full left", "FR": "full right"}
_NAME = re.compile(r"^([AB])([FM])(\d{2})(AF|AN|DI|HA|NE|SA|SU)(S|HL|HR|FL|FR)\.[a-z0-9]+$", re.IGNORECASE)


def _named(path: Path) -> bool:
    """True for a KDEF file name."""
    return bool(_NAME.match(path.name))


def matches(root: Path) -> bool:
    """Cheap check: most images near ``root`` are named like ``AF01HAS.JPG``."""
    return mostly_named(root, is_image, _named)


def read(root: Path) -> ReadResult:
    """Read every KDEF image under ``root`` (see the module docstring for the fields)."""
    root = dataset_folder(root)
    records: list[FaceRecord] = []
    skipped: list[Skip] = []
    for path in filter(is_image, walk_files(root)):
        match = _NAME.match(path.name)
        if not match:
            reason = "name does not follow the KDEF pattern AF01HAS.JPG (session, gender, id, expression, view)"
            skipped.append(Skip(str(path), reason))
            continue
        session, gender, number, code, view = (group.upper() for group in match.groups())
        meta = {
            "label": code,
            "session": session,
            "gender": "female" if gender == "F" else "male",
            "view": view,
            "view_name": VIEWS[view],
        }
        records.append(FaceRecord(str(path), gender + number, CODES[code], f"{session}-{view}", FORMAT, meta=meta))
    return finish(FORMAT, root, records, skipped)
