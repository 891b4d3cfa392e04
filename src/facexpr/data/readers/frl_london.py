"""Face Research Lab London Set: ``neutral_front/NNN_03.jpg`` and ``smiling_front/NNN_08.jpg``.

Folders are ``<neutral|smiling>_<view>``: ``neutral`` gives expression
``neutral``, ``smiling`` gives ``happy`` (meta ``label`` keeps the word, meta
``view`` the view, e.g. ``front``). Subject is the face id ``NNN``; take is the
photo number (``03``, ``08``). The columns of ``london_info.csv`` (face_id,
face_age, face_gender, face_eth) are copied into meta under their own names,
matched on the face id (leading zeros optional); unknown values (``NA``) are
left out. The ``.tem`` landmark files
are ignored.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from facexpr.data.readers.base import ReadResult, dataset_folder, finish, is_image
from facexpr.data.records import FaceRecord, Skip, normalize_expression

FORMAT = "frl_london"
INFO_FILE = "london_info.csv"
#: Cells that mean "unknown" in london_info.csv; such values are left out of meta.
MISSING = frozenset({"", "NA", "N/A"})
_FOLDER = re.compile(r"^(neutral|smiling)_([a-z]+)$")
_NAME = re.compile(r"^(\d+)_(\d+)\.[a-z0-9]+$", re.IGNORECASE)


def matches(root: Path) -> bool:
    """Cheap check: ``root`` holds a ``neutral_front`` or ``smiling_front`` folder."""
    return (root / "neutral_front").is_dir() or (root / "smiling_front").is_dir()


def _id_key(face_id: str) -> str:
    """Face ids compare without leading zeros ("001" == "1")."""
    return str(int(face_id)) if face_id.isdigit() else face_id


def _read_info(path: Path) -> tuple[dict[str, dict[str, Any]], list[Skip]]:
    """Per-face metadata from ``london_info.csv`` keyed by :func:`_id_key`, or a skip when unusable."""
    if not path.is_file():
        return {}, []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    if rows and "face_id" not in rows[0]:
        return {}, [Skip(str(path), "lacks the face_id column; no per-face metadata added")]
    info = {}
    for row in rows:
        cells = {key.strip(): (value or "").strip() for key, value in row.items() if key}
        meta: dict[str, Any] = {key: value for key, value in cells.items() if value.upper() not in MISSING}
        if str(meta.get("face_age", "")).isdigit():
            meta["face_age"] = int(meta["face_age"])
        info[_id_key(cells["face_id"])] = meta
    return info, []


def read(root: Path) -> ReadResult:
    """Read every front/side photo folder of the FRL London set (see the module docstring)."""
    root = dataset_folder(root)
    info, skipped = _read_info(root / INFO_FILE)
    records: list[FaceRecord] = []
    folders = sorted(p for p in root.iterdir() if p.is_dir() and _FOLDER.match(p.name))
    for folder in folders:
        label, view = _FOLDER.match(folder.name).groups()
        for path in sorted(filter(is_image, folder.iterdir())):
            match = _NAME.match(path.name)
            if not match:
                reason = f"name does not follow the FRL London pattern {folder.name}/NNN_TT.jpg"
                skipped.append(Skip(str(path), reason, expression=normalize_expression(label)))
                continue
            subject, take = match.groups()
            meta = {"label": label, "view": view, **info.get(_id_key(subject), {})}
            records.append(FaceRecord(str(path), subject, normalize_expression(label), take, FORMAT, meta=meta))
    return finish(FORMAT, root, records, skipped)
