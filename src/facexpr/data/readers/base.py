"""What every dataset reader shares: the result type, file walking and the final tidy-up."""

from __future__ import annotations

import os
from collections import Counter, deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from facexpr.data.records import FaceRecord, Skip
from facexpr.io import BadInputError

#: Suffixes (lower case) of the image files readers pick up; everything else is ignored.
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm"}
)


@dataclass
class ReadResult:
    """What a reader found in a dataset folder.

    Attributes:
        records: usable images, with absolute paths, sorted by (source, subject, path).
        skipped: files that look like part of the dataset but cannot be used, each
            with a one-line reason, sorted by path.
        format: the reader's name ("jaffe", "yale", ..., "generic", "csv").
    """

    records: list[FaceRecord]
    skipped: list[Skip]
    format: str


def dataset_folder(root: str | os.PathLike) -> Path:
    """``root`` as an absolute folder path.

    Raises:
        BadInputError: ``root`` does not exist or is not a folder.
    """
    root = Path(root)
    if not root.exists():
        raise BadInputError(root, "no such file or folder")
    if not root.is_dir():
        raise BadInputError(root, "not a folder")
    return root.resolve()


def is_hidden(path: Path) -> bool:
    """True for dot-files such as ``.DS_Store`` (never part of a dataset)."""
    return path.name.startswith(".")


def is_image(path: Path) -> bool:
    """True when the name has an image suffix (the file is not opened)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not is_hidden(path)


def walk_files(root: Path) -> list[Path]:
    """Every non-hidden file under ``root`` (hidden folders pruned), sorted by path."""
    found = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found.extend(Path(folder, name) for name in filenames if not name.startswith("."))
    return sorted(found)


def sample_files(root: Path, depth: int = 2, limit: int = 200) -> list[Path]:
    """Up to ``limit`` non-hidden files at most ``depth`` folders below ``root``, breadth first.

    Used by the cheap ``matches`` checks, which must not walk a whole dataset.
    """
    found: list[Path] = []
    queue: deque[tuple[Path, int]] = deque([(root, 0)])
    while queue and len(found) < limit:
        folder, level = queue.popleft()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_file():
                found.append(Path(entry.path))
            elif entry.is_dir() and level < depth:
                queue.append((Path(entry.path), level + 1))
    return found[:limit]


def mostly_named(root: Path, candidate: Callable[[Path], bool], named: Callable[[Path], bool]) -> bool:
    """True when at least half (and at least one) of the sampled candidate files follow a naming scheme."""
    if not root.is_dir():
        return False
    candidates = [path for path in sample_files(root) if candidate(path)]
    hits = sum(1 for path in candidates if named(path))
    return hits > 0 and 2 * hits >= len(candidates)


def _disambiguate_takes(records: list[FaceRecord], root: Path) -> list[FaceRecord]:
    """Make (source, subject, expression, take) unique by appending the path to colliding takes.

    ``prepare`` names crops after expression and take, so two records sharing
    them would overwrite each other's crop.
    """
    counts = Counter((r.source, r.subject, r.expression, r.take) for r in records)
    unique = []
    for r in records:
        if counts[(r.source, r.subject, r.expression, r.take)] > 1:
            path = Path(r.path)
            where = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
            r = replace(r, take=f"{r.take}/{where}")
        unique.append(r)
    return unique


def finish(format: str, root: Path, records: list[FaceRecord], skipped: list[Skip]) -> ReadResult:
    """The reader's result: takes made unique, records and skips in a deterministic order."""
    records = _disambiguate_takes(records, root)
    records.sort(key=lambda r: (r.source, r.subject, r.path))
    skipped = sorted(skipped, key=lambda s: (s.path, s.reason))
    return ReadResult(records, skipped, format)
