"""A generic ``ROOT/<subject>/<expression>/<image>`` tree (any image suffix).

This is also the layout of facexpr's synthetic faces, which put a
``<name>.landmarks.json`` sidecar beside each image; sidecars and other
non-image files are ignored. The expression folder name is normalised
(``Happiness`` -> ``happy``; unknown labels are kept) and kept as written in
meta ``label``; take is the file name without suffix. Images elsewhere in the
tree are skipped with a reason.
"""

from __future__ import annotations

from pathlib import Path

from facexpr.data.readers.base import (
    ReadResult,
    dataset_folder,
    finish,
    is_image,
    walk_files,
)
from facexpr.data.records import FaceRecord, Skip, normalize_expression

FORMAT = "generic"


def _visible_folders(folder: Path) -> list[Path]:
    """Sub-folders of ``folder`` whose names do not start with a dot, sorted."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def matches(root: Path) -> bool:
    """Cheap check: some ``ROOT/<subject>/<expression>/`` folder holds an image."""
    if not root.is_dir():
        return False
    for subject in _visible_folders(root):
        for expression in _visible_folders(subject):
            if any(is_image(p) for p in expression.iterdir()):
                return True
    return False


def read(root: Path) -> ReadResult:
    """Read every image at ``ROOT/<subject>/<expression>/<image>``."""
    root = dataset_folder(root)
    records: list[FaceRecord] = []
    skipped: list[Skip] = []
    for path in filter(is_image, walk_files(root)):
        parts = path.relative_to(root).parts
        if len(parts) != 3:
            skipped.append(Skip(str(path), "not in the generic layout ROOT/<subject>/<expression>/<image>"))
            continue
        subject, label = parts[0], parts[1]
        meta = {"label": label}
        records.append(FaceRecord(str(path), subject, normalize_expression(label), path.stem, FORMAT, meta=meta))
    return finish(FORMAT, root, records, skipped)
