"""The one record type every dataset reader produces, and the manifest that stores them.

A :class:`FaceRecord` names one image of one subject with one expression. Readers
for published layouts (JAFFE, Yale, KDEF, CK+, RaFD, FRL London, ...) emit these;
``facexpr prepare`` aligns them and writes ``manifest.csv``; training code reads
the manifest back. Files a reader or the pipeline cannot use become a
:class:`Skip` with a one-line reason.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from facexpr.io import write_text_atomic

#: The canonical expression vocabulary (the seven basic emotions plus neutral).
EXPRESSIONS = ("neutral", "happy", "sad", "surprise", "angry", "disgust", "fear", "contempt")

_SYNONYMS = {
    "neutral": ("neutral", "normal", "neutrality", "no emotion", "noemotion", "calm", "rest"),
    "happy": ("happy", "happiness", "happily", "smile", "smiling", "joy", "joyful", "laugh"),
    "sad": ("sad", "sadness", "sadly", "unhappy", "sorrow"),
    "surprise": ("surprise", "surprised", "surprising", "astonished"),
    "angry": ("angry", "anger", "angrily", "mad", "rage"),
    "disgust": ("disgust", "disgusted", "disgusting"),
    "fear": ("fear", "fearful", "afraid", "scared", "fright"),
    "contempt": ("contempt", "contemptuous"),
}
_LOOKUP = {synonym: canonical for canonical, words in _SYNONYMS.items() for synonym in words}


def normalize_expression(label: str) -> str:
    """Map a dataset's expression label to the canonical vocabulary.

    ``"Happiness"``, ``"smiling"`` and ``"happy"`` all become ``"happy"``;
    ``"normal"`` (Yale) becomes ``"neutral"``. Labels outside the eight
    canonical expressions (``"sleepy"``, ``"wink"``, ``"glasses"``) are kept,
    lower-cased, so no information is lost.
    """
    key = " ".join(str(label).strip().lower().replace("_", " ").replace("-", " ").split())
    return _LOOKUP.get(key, _LOOKUP.get(key.replace(" ", ""), key))


CORE_COLUMNS = ("path", "subject", "expression", "take", "source", "split")


@dataclass
class FaceRecord:
    """One image of one subject showing one expression.

    Attributes:
        path: the image file (absolute for raw data, relative to the manifest
            folder in a prepared dataset).
        subject: identity label, unique within ``source``.
        expression: canonical expression (see :func:`normalize_expression`).
        take: which shot of that subject/expression ("1", "S005/001/11", ...).
        source: dataset name ("yale", "frl_london", "synthetic", ...).
        split: "train", "val", "test" or "" before splitting.
        meta: free metadata (view, gaze, landmarks, pose, cues, ...).
    """

    path: str
    subject: str
    expression: str
    take: str = "1"
    source: str = ""
    split: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_neutral(self) -> bool:
        """True when the record shows the neutral expression."""
        return self.expression == "neutral"

    def key(self) -> tuple[str, str]:
        """(source, subject): identities are only unique within a source."""
        return (self.source, self.subject)


@dataclass(frozen=True)
class Skip:
    """A file that was left out, with a one-line reason."""

    path: str
    reason: str
    subject: str = ""
    expression: str = ""


def _cell(value: Any) -> str:
    """Format one manifest cell: floats compactly, containers as JSON."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


def records_to_csv(records: Iterable[FaceRecord]) -> str:
    """Serialise records as CSV text: the core columns, then every meta key (sorted)."""
    records = list(records)
    extra = sorted({k for r in records for k in r.meta} - set(CORE_COLUMNS))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*CORE_COLUMNS, *extra])
    for r in records:
        core = [r.path, r.subject, r.expression, r.take, r.source, r.split]
        writer.writerow([*core, *(_cell(r.meta.get(k)) for k in extra)])
    return buffer.getvalue()


def write_manifest(path: str | os.PathLike, records: Iterable[FaceRecord]) -> None:
    """Write a manifest CSV atomically."""
    write_text_atomic(path, records_to_csv(records))


def _parse(value: str) -> Any:
    """Inverse of :func:`_cell` for meta columns: JSON containers and numbers come back typed."""
    if value == "":
        return None
    if value[0] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if re.fullmatch(r"-?(0|[1-9][0-9]*)", value):
        return int(value)
    if re.fullmatch(r"-?[0-9]*\.[0-9]+(e[-+]?[0-9]+)?|-?[0-9]+e[-+]?[0-9]+|-?inf|nan", value, re.IGNORECASE):
        return float(value)
    return value  # identifiers such as "001" keep their leading zeros


def read_manifest(path: str | os.PathLike) -> list[FaceRecord]:
    """Read a manifest written by :func:`write_manifest` (or any CSV with the core columns).

    Only ``path`` and ``subject`` are required; ``expression`` is normalised.
    Paths stay as written (relative paths are relative to the manifest folder).
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = {"path", "subject"} - set(header)
        if missing:
            from facexpr.io import BadInputError

            raise BadInputError(path, f"manifest lacks column(s) {', '.join(sorted(missing))}")
        records = []
        for row in reader:
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            meta = {k: _parse(v) for k, v in row.items() if k not in CORE_COLUMNS and v != ""}
            records.append(
                FaceRecord(
                    path=row["path"],
                    subject=row["subject"],
                    expression=normalize_expression(row.get("expression") or "neutral"),
                    take=row.get("take") or "1",
                    source=row.get("source") or "",
                    split=row.get("split") or "",
                    meta=meta,
                )
            )
    return records


def write_skips(path: str | os.PathLike, skips: Iterable[Skip]) -> None:
    """Write the skip list (path, subject, expression, reason) atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "subject", "expression", "reason"])
    for s in skips:
        writer.writerow([s.path, s.subject, s.expression, s.reason])
    write_text_atomic(path, buffer.getvalue())


def read_skips(path: str | os.PathLike) -> list[Skip]:
    """Read a skip list written by :func:`write_skips`."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [Skip(r["path"], r["reason"], r.get("subject", ""), r.get("expression", "")) for r in csv.DictReader(handle)]
