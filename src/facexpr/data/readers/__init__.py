"""Dataset readers: a published layout -> :class:`~facexpr.data.records.FaceRecord` list.

Each reader is a small module with ``FORMAT`` (its name), a cheap
``matches(root)`` check and ``read(root)``. :func:`detect_format` tries the
checks from the most to the least specific layout (folder names first, then
file-name schemes, then a CSV manifest, then the generic
``ROOT/<subject>/<expression>/`` tree); :func:`read_dataset` reads with the
detected or the requested format.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from facexpr.data.readers import (
    ckplus,
    csv_manifest,
    frl_london,
    generic,
    jaffe,
    kdef,
    rafd,
    yale,
)
from facexpr.data.readers.base import ReadResult
from facexpr.io import BadInputError

#: Reader modules in detection order, most specific first.
_DETECTION_ORDER = (ckplus, frl_london, kdef, rafd, jaffe, yale, csv_manifest, generic)

#: Format name -> reader; every reader takes the dataset root and returns a :class:`ReadResult`.
FORMATS: dict[str, Callable[[Path], ReadResult]] = {module.FORMAT: module.read for module in _DETECTION_ORDER}

__all__ = ["FORMATS", "ReadResult", "detect_format", "read_dataset"]


def detect_format(root: str | os.PathLike) -> str:
    """The name of the first layout (in detection order) whose cheap check accepts ``root``.

    Raises:
        BadInputError: ``root`` does not exist, or no layout matches.
    """
    root = Path(root)
    if not root.exists():
        raise BadInputError(root, "no such file or folder")
    for module in _DETECTION_ORDER:
        if module.matches(root):
            return module.FORMAT
    tried = ", ".join(module.FORMAT for module in _DETECTION_ORDER)
    raise BadInputError(root, f"cannot recognise the dataset layout (tried {tried}); pass --format")


def read_dataset(root: str | os.PathLike, format: str | None = None, *, peak_frames: int = 3) -> ReadResult:
    """Read a dataset folder (or CSV manifest) with ``format``, detected when None.

    ``peak_frames`` applies to CK+ only: how many last frames of a labelled
    sequence are peak-expression records.

    Raises:
        BadInputError: ``root`` does not exist, the format is unknown or not
            recognised, or the folder holds no usable image of that format (the
            message then quotes the first skip reason).
    """
    root = Path(root)
    if format is None:
        format = detect_format(root)
    elif format not in FORMATS:
        raise BadInputError(root, f"unknown format {format!r}; choose one of {', '.join(sorted(FORMATS))}")
    if format == ckplus.FORMAT:
        result = ckplus.read(root, peak_frames=peak_frames)
    else:
        result = FORMATS[format](root)
    if not result.records:
        reason = f"no usable {format} images found"
        if result.skipped:
            first = result.skipped[0]
            reason += f"; {len(result.skipped)} file(s) skipped, e.g. {Path(first.path).name}: {first.reason}"
        raise BadInputError(root, reason)
    return result
