"""The demo pipeline: synthetic faces -> ``prepare`` -> contact sheet.

Later model issues extend it (train stage 1 and 2, neutralize held-out faces);
for now it shows that the embedded data goes through the same face pipeline as
photos: raw renders with their pose/placement, aligned crops with landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facexpr.data.prepare import PrepareOptions, ProgressCallback, prepare_dataset
from facexpr.data.records import FaceRecord
from facexpr.data.synthetic import generate_dataset
from facexpr.io import load_image, write_image_atomic
from facexpr.viz import contact_sheet, draw_landmarks

DEMO_EXPRESSIONS = ("neutral", "happy", "sad", "surprise", "angry", "disgust", "fear")


@dataclass
class DemoReport:
    """Where the demo wrote its results and how many faces went through."""

    out_dir: Path
    subjects: int
    aligned: int
    contact_sheet: Path


def _sheet_rows(prepared: Path, records: list[FaceRecord]) -> tuple[list[list[np.ndarray | None]], list[str]]:
    """One row per subject: its aligned crop (with landmarks) for every demo expression."""
    subjects = sorted({r.subject for r in records})
    by_key = {(r.subject, r.expression): r for r in records}
    rows, labels = [], []
    for subject in subjects:
        row: list[np.ndarray | None] = []
        for expression in DEMO_EXPRESSIONS:
            record = by_key.get((subject, expression))
            if record is None:
                row.append(None)
                continue
            crop = load_image(prepared / record.path)
            row.append(draw_landmarks(crop, np.asarray(record.meta["landmarks"]), radius=0.8))
        rows.append(row)
        split = next(r.split for r in records if r.subject == subject)
        labels.append(f"{subject} ({split})")
    return rows, labels


def run_demo(
    out_dir: str | Path,
    subjects: int = 8,
    size: int = 128,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> DemoReport:
    """Generate ``subjects`` synthetic people, prepare them and write ``contact_sheet.png``."""
    out_dir = Path(out_dir)
    raw = out_dir / "synthetic"
    generate_dataset(raw, n_subjects=subjects, expressions=DEMO_EXPRESSIONS, size=int(size * 1.5), seed=seed)
    prepared = out_dir / "prepared"
    result = prepare_dataset(raw, prepared, PrepareOptions(size=size, seed=seed), progress=progress)
    rows, labels = _sheet_rows(prepared, result.records)
    sheet_path = out_dir / "contact_sheet.png"
    write_image_atomic(sheet_path, contact_sheet(rows, labels, DEMO_EXPRESSIONS, cell_size=size))
    return DemoReport(out_dir, result.summary["subjects"], result.summary["aligned"], sheet_path)
