"""``facexpr openface``: keep the neutral frontal frames of an OpenFace CSV (the thesis' filter)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Optional

import typer

from facexpr.cli.common import console, friendly_errors
from facexpr.faces.openface import (
    THESIS_AUS,
    NeutralFrameFilter,
    neutral_frontal_rows,
    read_openface_csv,
)
from facexpr.io import write_text_atomic


@friendly_errors
def openface_command(
    csv_path: Path = typer.Argument(..., metavar="CSV", help="OpenFace FeatureExtraction or FaceLandmarkImg CSV."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the kept rows here (same columns)."),
    min_confidence: float = typer.Option(0.9, "--min-confidence", help="Keep rows with confidence at least this."),
    max_pose: float = typer.Option(20.0, "--max-pose", help="Largest |pose_Rx|, |pose_Ry|, |pose_Rz| in degrees."),
    max_au: float = typer.Option(1.0, "--max-au", help="Largest intensity (0-5) of every AU in --aus."),
    aus: str = typer.Option(",".join(THESIS_AUS), "--aus", help="Action units that must stay under --max-au."),
) -> None:
    """Select neutral frontal frames: success, confidence, head pose and AU intensities under thresholds."""
    frame_filter = NeutralFrameFilter(
        min_confidence=min_confidence, max_pose_degrees=max_pose, max_au_intensity=max_au,
        aus=tuple(a.strip() for a in aus.split(",") if a.strip()),
    )
    total = len(read_openface_csv(csv_path))
    kept = neutral_frontal_rows(csv_path, frame_filter)
    console.print(f"kept {len(kept)} of {total} frame(s) of {csv_path}")
    if out is not None and kept:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(kept[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: f"{v:g}" for k, v in row.items()} for row in kept)
        write_text_atomic(out, buffer.getvalue())
        console.print(f"wrote {out}")
