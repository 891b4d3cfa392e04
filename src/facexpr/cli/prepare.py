"""``facexpr prepare``: detect, align and crop every face of a dataset, manifest or video."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from facexpr.cli.common import console, friendly_errors, progress_bar
from facexpr.data.prepare import (
    VIDEO_SUFFIXES,
    PrepareOptions,
    PrepareResult,
    prepare_dataset,
)
from facexpr.data.readers import FORMATS
from facexpr.data.splits import parse_ratios
from facexpr.io import BadInputError


@friendly_errors
def prepare_command(
    source: Path = typer.Argument(..., help="Dataset folder, CSV manifest or video file."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (crops, manifest.csv, skipped.csv, summary.json)."),
    format: Optional[str] = typer.Option(None, "--format", "-f", help=f"Dataset layout; one of {', '.join(sorted(FORMATS))}. Detected when omitted."),
    size: int = typer.Option(128, "--size", min=16, max=1024, help="Side of the square crops in pixels."),
    grey: bool = typer.Option(False, "--grey", help="Write single-channel grey crops."),
    all_faces: bool = typer.Option(False, "--all-faces", help="Keep every face of an image, not only the largest."),
    split_ratios: str = typer.Option("0.7,0.15,0.15", "--split-ratios", help="train,val,test shares of the subjects."),
    split: Optional[str] = typer.Option(None, "--split", help="Put every subject in this split (e.g. test for a held-out set)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the subject split."),
    peak_frames: int = typer.Option(3, "--peak-frames", min=1, help="CK+ only: last frames of a labelled sequence kept as its peak expression."),
    inputs: int = typer.Option(6, "--inputs", "-k", min=1, help="Video only: how many expressive frames to keep."),
    max_frames: int = typer.Option(300, "--max-frames", min=2, help="Video only: frames sampled from the clip."),
) -> None:
    """Align every face into a prepared dataset with subject-independent splits.

    Incremental: a second run reuses every crop it already made (content-hash cache).
    """
    if format is not None and format not in FORMATS:
        raise BadInputError(source, f"unknown --format {format!r}; choose one of {', '.join(sorted(FORMATS))}")
    if split is not None and split not in ("train", "val", "test"):
        raise BadInputError(source, f"--split must be train, val or test, not {split!r}")
    try:
        ratios = parse_ratios(split_ratios)
    except ValueError as error:
        raise BadInputError(source, f"--split-ratios: {error}") from None
    options = PrepareOptions(
        size=size, grey=grey, all_faces=all_faces, format=format, split_ratios=ratios,
        split_only=split, seed=seed, peak_frames=peak_frames, video_inputs=inputs, video_max_frames=max_frames,
    )
    with progress_bar(f"prepare {source.name}") as progress:
        if source.suffix.lower() in VIDEO_SUFFIXES:
            from facexpr.data.video import prepare_video
            from facexpr.models.geometric import default_model, neutrality_scorer

            result = prepare_video(source, out, options, progress=progress,
                                   neutrality=neutrality_scorer(default_model()), neutrality_name="geometric")
        else:
            result = prepare_dataset(source, out, options, progress=progress)
    print_summary(result)


def print_summary(result: PrepareResult) -> None:
    """Print what was aligned and why files were skipped."""
    summary = result.summary
    console.print(
        f"[green]aligned {summary['aligned']} face(s)[/green] of {summary['subjects']} subject(s) "
        f"from {summary['source']} ({summary['format']}) into {result.out_dir} "
        f"[dim]({summary['reused_from_cache']} reused from cache, {summary['seconds']} s)[/dim]"
    )
    table = Table("split", "subjects", "images", title="splits")
    for name, counts in summary["splits"].items():
        table.add_row(name, str(counts["subjects"]), str(counts["images"]))
    console.print(table)
    if result.skipped:
        console.print(f"[yellow]skipped {len(result.skipped)}[/yellow] (all reasons in {result.out_dir / 'skipped.csv'}):")
        for skip in result.skipped[:20]:
            console.print(f"  {skip.path or skip.subject}: {skip.reason}", highlight=False, soft_wrap=True)
        if len(result.skipped) > 20:
            console.print(f"  ... and {len(result.skipped) - 20} more")
