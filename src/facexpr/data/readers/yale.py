"""Yale Face Database: ``subject01.happy`` (a GIF without an image extension).

Labels and how they become records:

* ``normal`` -> expression ``neutral`` with meta ``reference=True``: the one
  neutral reference of the subject.
* ``glasses``, ``noglasses``, ``centerlight``, ``leftlight``, ``rightlight`` are
  neutral faces under another condition -> expression ``neutral`` with meta
  ``condition`` set to the label, so they can serve as extra neutral images or
  be filtered out (``meta["condition"]``) by a researcher who wants only the
  reference.
* ``happy``, ``sad``, ``surprised`` (-> ``surprise``) are expressions;
  ``sleepy`` and ``wink`` are kept as their own labels.

Every record keeps the original label in meta ``label``; take is the label, which
is unique within a subject.

Known quirks are handled without naming subjects: within a subject, files with
identical content (SHA-256) are one photograph. The ``normal`` file is kept
(then the other neutral conditions, then the rest, alphabetically) and every
copy becomes a :class:`Skip` "identical to subjectNN.normal (duplicate file)".
This drops ``subject04.sad`` (a copy of ``subject04.normal``), the ``noglasses``
copies of ``normal`` and ``subject08.glasses``. Missing files (such as
``subject01.centerlight``) simply give no record.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from facexpr.data.readers.base import (
    ReadResult,
    dataset_folder,
    finish,
    mostly_named,
    walk_files,
)
from facexpr.data.records import FaceRecord, Skip, normalize_expression
from facexpr.io import file_sha256

FORMAT = "yale"
#: Labels of neutral faces photographed under another condition.
CONDITIONS = ("centerlight", "glasses", "leftlight", "noglasses", "rightlight")
LABELS = frozenset({*CONDITIONS, "happy", "normal", "sad", "sleepy", "surprised", "wink"})
_NAME = re.compile(r"^subject(\d+)\.([a-z]+)$", re.IGNORECASE)


def _candidate(path: Path) -> bool:
    """Files that claim to be Yale images: their name starts with ``subject``."""
    return path.name.lower().startswith("subject")


def _named(path: Path) -> bool:
    """True for ``subjectNN.<label>`` with a known label."""
    match = _NAME.match(path.name)
    return bool(match) and match.group(2).lower() in LABELS


def matches(root: Path) -> bool:
    """Cheap check: most ``subject*`` files near ``root`` are named ``subjectNN.<label>``."""
    return mostly_named(root, _candidate, _named)


def _record(path: Path, subject: str, label: str) -> FaceRecord:
    """The record of one Yale file (see the module docstring)."""
    meta: dict[str, object] = {"label": label}
    if label in CONDITIONS:
        expression = "neutral"
        meta["condition"] = label
    else:
        expression = normalize_expression(label)
    if label == "normal":
        meta["reference"] = True
    return FaceRecord(str(path), subject, expression, label, FORMAT, meta=meta)


def _preference(record: FaceRecord) -> tuple[int, str]:
    """Which of several identical files to keep: normal, then neutral conditions, then the rest."""
    label = record.meta["label"]
    return (0 if label == "normal" else 1 if label in CONDITIONS else 2, label)


def _drop_duplicates(records: list[FaceRecord]) -> tuple[list[FaceRecord], list[Skip]]:
    """Keep one record per distinct file content within each subject; skip the copies."""
    by_subject: dict[str, list[FaceRecord]] = defaultdict(list)
    for record in records:
        by_subject[record.subject].append(record)
    kept: list[FaceRecord] = []
    skipped: list[Skip] = []
    for group in by_subject.values():
        first_with: dict[str, FaceRecord] = {}
        for record in sorted(group, key=_preference):
            original = first_with.setdefault(file_sha256(record.path), record)
            if original is record:
                kept.append(record)
            else:
                reason = f"identical to {Path(original.path).name} (duplicate file)"
                skipped.append(Skip(record.path, reason, record.subject, record.expression))
    return kept, skipped


def read(root: Path) -> ReadResult:
    """Read every Yale image under ``root``, dropping duplicate files (see the module docstring)."""
    root = dataset_folder(root)
    records: list[FaceRecord] = []
    skipped: list[Skip] = []
    for path in filter(_candidate, walk_files(root)):
        match = _NAME.match(path.name)
        if not match:
            skipped.append(Skip(str(path), "name does not follow the Yale pattern subjectNN.<label>"))
            continue
        subject, label = f"subject{match.group(1)}", match.group(2).lower()
        if label not in LABELS:
            reason = f"unknown Yale label {label!r} (expected one of {', '.join(sorted(LABELS))})"
            skipped.append(Skip(str(path), reason, subject=subject))
            continue
        records.append(_record(path, subject, label))
    kept, duplicates = _drop_duplicates(records)
    return finish(FORMAT, root, kept, skipped + duplicates)
