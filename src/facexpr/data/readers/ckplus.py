"""CK+ (Extended Cohn-Kanade): image sequences from neutral onset to peak expression.

Layout: ``cohn-kanade-images/S005/001/S005_001_00000001.png`` for the frames and
``Emotion/S005/001/S005_001_00000011_emotion.txt`` for the sequence label, a
float code (0 neutral, 1 angry, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sad,
7 surprise). Both folders may sit up to two levels below the root (as in
``extended-cohn-kanade-images/cohn-kanade-images`` and ``Emotion_labels/Emotion``).

Records: the first frame of every sequence is neutral (meta ``phase="onset"``,
``label="0"``); the last ``peak_frames`` frames of a labelled sequence carry
its label (``phase="peak"``, ``label`` = the code, e.g. ``"5"``). Unlabelled
sequences give only their neutral first frame; the frames in between are not
records. Subject is ``S005``; take is ``S005/001/11`` (subject/sequence/frame);
meta also holds ``sequence`` and ``frame``. Label files that cannot be parsed
are skipped with a reason and their sequence counts as unlabelled.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from pathlib import Path

from facexpr.data.readers.base import (
    ReadResult,
    dataset_folder,
    finish,
    is_image,
    walk_files,
)
from facexpr.data.records import FaceRecord, Skip
from facexpr.io import BadInputError

FORMAT = "ckplus"
IMAGES_FOLDER = "cohn-kanade-images"
LABELS_FOLDER = "Emotion"
CODES = ("neutral", "angry", "contempt", "disgust", "fear", "happy", "sad", "surprise")
_FRAME = re.compile(r"^(S\d+)_(\d+)_(\d+)$")
_LABEL = re.compile(r"^(S\d+)_(\d+)_(\d+)_emotion\.txt$")


def _find_folder(root: Path, name: str, depth: int = 2) -> Path | None:
    """The first folder called ``name`` at most ``depth`` levels below ``root`` (breadth first)."""
    queue: deque[tuple[Path, int]] = deque([(root, 0)])
    while queue:
        folder, level = queue.popleft()
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            continue
        for child in children:
            if child.name == name:
                return child
        if level + 1 < depth:
            queue.extend((child, level + 1) for child in children)
    return None


def matches(root: Path) -> bool:
    """Cheap check: a ``cohn-kanade-images`` folder at most two levels below ``root``."""
    return root.is_dir() and _find_folder(root, IMAGES_FOLDER) is not None


def _read_labels(folder: Path | None) -> tuple[dict[tuple[str, str], tuple[int, Path]], list[Skip]]:
    """Sequence labels ``{(subject, sequence): (code, label file)}`` and the unusable label files."""
    labels: dict[tuple[str, str], tuple[int, Path]] = {}
    skipped: list[Skip] = []
    for path in walk_files(folder) if folder else []:
        match = _LABEL.match(path.name)
        if not match:
            if path.suffix.lower() == ".txt":
                skipped.append(Skip(str(path), "name does not follow the CK+ pattern S005_001_00000011_emotion.txt"))
            continue
        text = path.read_text(errors="replace").strip()
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not (value.is_integer() and 0 <= value < len(CODES)):
            reason = f"CK+ emotion label {text[:20]!r} is not a code 0-7; its sequence gives only the neutral frame"
            skipped.append(Skip(str(path), reason, subject=match.group(1)))
            continue
        labels[(match.group(1), match.group(2))] = (int(value), path)
    return labels, skipped


def read(root: Path, peak_frames: int = 3) -> ReadResult:
    """Read the neutral first frame of every CK+ sequence and the last ``peak_frames`` of labelled ones.

    Raises:
        BadInputError: ``root`` is not a folder or holds no ``cohn-kanade-images`` folder.
        ValueError: ``peak_frames`` is below 1.
    """
    if peak_frames < 1:
        raise ValueError(f"peak_frames must be at least 1, got {peak_frames}")
    root = dataset_folder(root)
    images = _find_folder(root, IMAGES_FOLDER)
    if images is None:
        raise BadInputError(root, f"no {IMAGES_FOLDER} folder (CK+ layout)")
    labels, skipped = _read_labels(_find_folder(root, LABELS_FOLDER))
    sequences: dict[tuple[str, str], list[tuple[int, Path]]] = defaultdict(list)
    for path in filter(is_image, walk_files(images)):
        match = _FRAME.match(path.stem)
        if not match:
            skipped.append(Skip(str(path), "name does not follow the CK+ pattern S005_001_00000001.png"))
            continue
        sequences[(match.group(1), match.group(2))].append((int(match.group(3)), path))
    records: list[FaceRecord] = []
    for (subject, sequence), frames in sequences.items():
        frames.sort()
        chosen = [(frames[0], "neutral", "0", "onset")]
        if (subject, sequence) in labels:
            code = labels[(subject, sequence)][0]
            chosen += [(frame, CODES[code], str(code), "peak") for frame in frames[max(1, len(frames) - peak_frames):]]
        for (number, path), expression, label, phase in chosen:
            meta = {"label": label, "phase": phase, "sequence": sequence, "frame": number}
            take = f"{subject}/{sequence}/{number}"
            records.append(FaceRecord(str(path), subject, expression, take, FORMAT, meta=meta))
    for key, (_, path) in labels.items():
        if key not in sequences:
            skipped.append(Skip(str(path), "CK+ emotion label of a sequence without images", subject=key[0]))
    return finish(FORMAT, root, records, skipped)
