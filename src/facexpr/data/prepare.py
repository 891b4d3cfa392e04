"""``facexpr prepare``: raw dataset folder -> aligned, labelled crops with subject-independent splits.

The output folder holds ``crops/`` (one aligned square crop per face),
``manifest.csv`` (path, subject, expression, take, source, split, plus pose,
expression cues and the 68 landmarks in crop coordinates), ``skipped.csv``
(every file left out, with a one-line reason) and ``summary.json``.

Preparation is incremental: results are cached under ``.cache/index.json``
keyed by each file's content hash and the alignment options, so a second run
re-aligns nothing, and an interrupted run resumes where it stopped (crops and
cache are written atomically as work proceeds).
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from facexpr.data.readers import read_dataset
from facexpr.data.records import FaceRecord, Skip, write_manifest, write_skips
from facexpr.data.sidecar import read_landmarks_sidecar
from facexpr.data.splits import assign_splits, split_summary
from facexpr.faces import AlignedFace, FacePipeline
from facexpr.io import (
    BadInputError,
    file_sha256,
    load_image,
    write_image_atomic,
    write_text_atomic,
)

#: Bump when alignment output changes, so that caches from older versions are not reused.
PIPELINE_VERSION = 1
#: Files with these suffixes are treated as videos by :func:`prepare`.
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})

ProgressCallback = Callable[[int, int, str], None]


@dataclass
class PrepareOptions:
    """How faces are aligned and split; every field is a ``facexpr prepare`` option."""

    size: int = 128
    grey: bool = False
    all_faces: bool = False
    format: str | None = None
    split_ratios: tuple[float, float, float] = (0.7, 0.15, 0.15)
    split_only: str | None = None
    seed: int = 0
    peak_frames: int = 3
    video_inputs: int = 6
    video_max_frames: int = 300

    def cache_key(self) -> str:
        """The part of the cache key that changes the crops (not the splits)."""
        return f"v{PIPELINE_VERSION}-s{self.size}-{'grey' if self.grey else 'rgb'}-{'all' if self.all_faces else 'one'}"


@dataclass
class PrepareResult:
    """What one ``prepare`` run produced."""

    out_dir: Path
    records: list[FaceRecord]
    skipped: list[Skip]
    summary: dict[str, Any] = field(default_factory=dict)


def _slug(text: str) -> str:
    """A file-name-safe version of a label."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-") or "x"


def face_meta(aligned: AlignedFace) -> dict[str, Any]:
    """The per-crop measurements stored in the manifest (pose, cues, scores, landmarks)."""
    pose, cues = aligned.pose, aligned.cues
    return {
        "detector": aligned.face.detector,
        "rotation": int(aligned.face.rotation),
        "yaw": round(float(pose.yaw), 2),
        "pitch": round(float(pose.pitch), 2),
        "roll": round(float(pose.roll), 2),
        "frontality": round(float(aligned.frontality), 4),
        "neutrality": round(float(aligned.neutrality), 4),
        "mouth_open": round(float(cues.mouth_open), 4),
        "lip_corner_lift": round(float(cues.lip_corner_lift), 4),
        "brow_raise": round(float(cues.brow_raise), 4),
        "eye_open": round(float(cues.eye_open), 4),
        "mouth_width": round(float(cues.mouth_width), 4),
        "eye_error": round(float(aligned.eye_error), 3),
        "landmarks": np.round(aligned.landmarks.astype(float), 2).tolist(),
    }


class PrepareCache:
    """Content-hash cache of alignment results, saved atomically.

    Maps ``"<sha256>:<options key>"`` to either ``{"faces": [{"crop": ..., "meta": ...}]}``
    or ``{"skip": reason}``. Entries whose crop files vanished are ignored.
    """

    def __init__(self, out_dir: Path, save_every_seconds: float = 2.0):
        self.path = out_dir / ".cache" / "index.json"
        self.out_dir = out_dir
        self.save_every_seconds = save_every_seconds
        self._last_save = time.monotonic()
        self._dirty = False
        try:
            self.entries: dict[str, Any] = json.loads(self.path.read_text()) if self.path.is_file() else {}
        except (OSError, json.JSONDecodeError):
            self.entries = {}  # a damaged cache only costs recomputation

    def get(self, key: str) -> dict[str, Any] | None:
        """A usable cached entry for ``key``, or None."""
        entry = self.entries.get(key)
        if entry and "faces" in entry and not all((self.out_dir / f["crop"]).is_file() for f in entry["faces"]):
            return None
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        """Record an entry; saves to disk at most every few seconds."""
        self.entries[key] = entry
        self._dirty = True
        if time.monotonic() - self._last_save > self.save_every_seconds:
            self.save()

    def save(self) -> None:
        """Write the index atomically if anything changed."""
        if self._dirty:
            write_text_atomic(self.path, json.dumps(self.entries, separators=(",", ":")))
            self._dirty = False
            self._last_save = time.monotonic()


def _align_record(
    record: FaceRecord, pipeline: FacePipeline, options: PrepareOptions, out_dir: Path
) -> dict[str, Any]:
    """Load, detect and align one record's image; returns a cache entry (faces or a skip reason)."""
    try:
        image = load_image(record.path)
    except BadInputError as error:
        return {"skip": error.reason}
    try:
        landmarks = read_landmarks_sidecar(record.path)
        faces = pipeline.process(image, landmarks=landmarks)
    except (ValueError, OSError) as error:
        return {"skip": f"unusable landmark sidecar ({error})"}
    if not faces:
        return {"skip": f"no face found ({pipeline.describe_search()})"}
    stem = f"{_slug(record.expression)}_{_slug(record.take)}"
    entries = []
    for index, aligned in enumerate(faces):
        suffix = f"_face{index}" if options.all_faces and index else ""
        crop = Path("crops") / _slug(record.source) / _slug(record.subject) / f"{stem}{suffix}.png"
        write_image_atomic(out_dir / crop, aligned.image)
        entries.append({"crop": crop.as_posix(), "meta": face_meta(aligned)})
    return {"faces": entries}


def _subjects_without_neutral(records: list[FaceRecord]) -> list[Skip]:
    """One skip line per subject that has crops but no neutral one (it cannot be paired)."""
    by_subject: dict[tuple[str, str], list[FaceRecord]] = defaultdict(list)
    for r in records:
        by_subject[r.key()].append(r)
    return [
        Skip("", f"subject has no neutral image: its {len(rs)} crop(s) stay in the manifest but cannot be paired",
             subject=subject)
        for (source, subject), rs in sorted(by_subject.items())
        if not any(r.is_neutral for r in rs)
    ]


def prepare_dataset(
    source: str | Path,
    out_dir: str | Path,
    options: PrepareOptions | None = None,
    progress: ProgressCallback | None = None,
) -> PrepareResult:
    """Align every face of a dataset folder or manifest into ``out_dir`` (see module docstring).

    Raises:
        BadInputError: the source does not exist or its layout is not recognised.
    """
    options = options or PrepareOptions()
    source, out_dir = Path(source), Path(out_dir)
    started = time.monotonic()
    read = read_dataset(source, options.format, peak_frames=options.peak_frames)
    pipeline = FacePipeline(size=options.size, grey=options.grey, all_faces=options.all_faces)
    cache = PrepareCache(out_dir)
    records: list[FaceRecord] = []
    skipped: list[Skip] = list(read.skipped)
    reused = 0
    try:
        for done, record in enumerate(read.records, start=1):
            if progress:
                progress(done, len(read.records), Path(record.path).name)
            try:
                key = f"{file_sha256(record.path)}:{options.cache_key()}"
            except OSError as error:
                skipped.append(Skip(record.path, f"cannot read file ({error.strerror or error})", record.subject, record.expression))
                continue
            entry = cache.get(key)
            if entry is None:
                entry = _align_record(record, pipeline, options, out_dir)
                cache.put(key, entry)
            else:
                reused += 1
            if "skip" in entry:
                skipped.append(Skip(record.path, entry["skip"], record.subject, record.expression))
                continue
            for index, face in enumerate(entry["faces"]):
                meta = {**record.meta, "source_path": str(record.path), "sha256": key.split(":")[0], **face["meta"]}
                if options.all_faces:
                    meta["face_index"] = index
                records.append(replace(record, path=face["crop"], meta=meta))
    finally:
        cache.save()  # keep what was done, also when interrupted
    return finish_prepare(out_dir, source, read.format, records, skipped, options, reused, started)


def finish_prepare(
    out_dir: Path,
    source: Path,
    fmt: str,
    records: list[FaceRecord],
    skipped: list[Skip],
    options: PrepareOptions,
    reused: int,
    started: float,
) -> PrepareResult:
    """Split subjects, list subjects without a neutral image, write manifest, skip list and summary."""
    records = assign_splits(records, ratios=options.split_ratios, seed=options.seed, only=options.split_only)
    skipped = [*skipped, *_subjects_without_neutral(records)]
    summary = _summary(fmt, source, records, skipped, options, reused, time.monotonic() - started)
    write_manifest(out_dir / "manifest.csv", records)
    write_skips(out_dir / "skipped.csv", skipped)
    write_text_atomic(out_dir / "summary.json", json.dumps(summary, indent=2))
    return PrepareResult(out_dir, records, skipped, summary)


def _skip_category(reason: str) -> str:
    """Group skip reasons for the summary ("no face found (tried ...)" -> "no face found")."""
    return re.split(r"[(:]", reason, maxsplit=1)[0].strip()


def _summary(
    fmt: str,
    source: Path,
    records: list[FaceRecord],
    skipped: list[Skip],
    options: PrepareOptions,
    reused: int,
    seconds: float,
) -> dict[str, Any]:
    """The machine-readable account of a prepare run."""
    return {
        "source": str(source),
        "format": fmt,
        "options": {k: v for k, v in asdict(options).items()},
        "aligned": len(records),
        "subjects": len({r.key() for r in records}),
        "skipped": len(skipped),
        "skipped_by_reason": dict(Counter(_skip_category(s.reason) for s in skipped)),
        "expressions": dict(sorted(Counter(r.expression for r in records).items())),
        "splits": split_summary(records),
        "reused_from_cache": reused,
        "seconds": round(seconds, 2),
    }
