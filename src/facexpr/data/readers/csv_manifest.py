"""A CSV manifest: a ``.csv`` file, or a folder holding ``manifest.csv``.

Columns ``path``, ``subject`` and ``expression`` are required; ``take``,
``source`` and ``split`` are optional and any other column becomes meta (see
:func:`facexpr.data.records.read_manifest`). Relative paths are resolved
against the CSV's folder. The source column is kept when present, because
identities are only unique within a source; rows without one get source
``csv``. Meta ``label`` is the expression as written, unless the manifest has
its own ``label`` column. Rows without path, subject or expression, rows naming a
missing file and repeated paths are skipped with a reason.
"""

from __future__ import annotations

import csv
import os
from dataclasses import replace
from pathlib import Path

from facexpr.data.readers.base import ReadResult, finish
from facexpr.data.records import FaceRecord, Skip, read_manifest
from facexpr.io import BadInputError

FORMAT = "csv"
MANIFEST_NAME = "manifest.csv"


def manifest_path(root: Path) -> Path | None:
    """The CSV file ``root`` stands for: itself when it is a ``.csv`` file, else ``root/manifest.csv``."""
    if root.is_file() and root.suffix.lower() == ".csv":
        return root
    if (root / MANIFEST_NAME).is_file():
        return root / MANIFEST_NAME
    return None


def matches(root: Path) -> bool:
    """Cheap check: ``root`` is a CSV file or a folder with ``manifest.csv``."""
    return manifest_path(root) is not None


def _raw_expressions(path: Path) -> list[str]:
    """The expression cell of every row as written, in the order :func:`read_manifest` reads them.

    Raises:
        BadInputError: the CSV has no ``expression`` column.
    """
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {name.strip(): name for name in reader.fieldnames or []}
        if "expression" not in columns:
            raise BadInputError(path, "manifest lacks column(s) expression")
        return [(row.get(columns["expression"]) or "").strip() for row in reader]


def read(root: Path) -> ReadResult:
    """Read the records listed in a CSV manifest, with absolute paths (see the module docstring).

    Raises:
        BadInputError: ``root`` does not exist, is neither a CSV file nor a folder
            with ``manifest.csv``, or the CSV lacks a required column.
    """
    root = Path(root)
    if not root.exists():
        raise BadInputError(root, "no such file or folder")
    path = manifest_path(root)
    if path is None:
        raise BadInputError(root, f"not a CSV manifest (expected a .csv file or a folder with {MANIFEST_NAME})")
    path = path.resolve()
    labels = _raw_expressions(path)
    records: list[FaceRecord] = []
    skipped: list[Skip] = []
    seen: set[Path] = set()
    for record, label in zip(read_manifest(path), labels):
        image = Path(os.path.normpath(path.parent / record.path))
        if not record.path:
            reason = f"row of {path.name} has no path"
        elif not record.subject:
            reason = f"row of {path.name} has no subject"
        elif not label:
            reason = f"row of {path.name} has no expression"
        elif image in seen:
            reason = f"listed more than once in {path.name}"
        elif not image.is_file():
            reason = f"listed in {path.name} but no such file"
        else:
            seen.add(image)
            meta = {"label": label, **record.meta}
            records.append(replace(record, path=str(image), source=record.source or FORMAT, meta=meta))
            continue
        skipped.append(Skip(str(image), reason, record.subject, record.expression if label else ""))
    return finish(FORMAT, path.parent, records, skipped)
