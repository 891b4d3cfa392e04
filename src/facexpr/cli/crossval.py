"""``facexpr crossval``: the geometric model cross-validated by subject on one prepared dataset."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from facexpr.cli.common import console, friendly_errors, progress_bar

SHOWN = ("psnr", "ssim", "sharpness", "id_rank1", "landmark_error", "p_neutral")


@friendly_errors
def crossval_command(
    data: Path = typer.Option(..., "--data", "-d", help="The prepared dataset whose people are split into folds."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the folds, crossval.json and crossval.md."),
    folds: int = typer.Option(5, "--folds", "-k", help="Number of subject-level folds."),
    extra: Optional[List[Path]] = typer.Option(
        None, "--extra", help="More prepared datasets every fold also trains on (repeatable)."),
    extra_split: str = typer.Option("train", "--extra-split", help="The split of the --extra datasets to train on (or all)."),
    region: str = typer.Option("face", "--region", help="Where the appearance step may act: face or lower."),
    appearance: bool = typer.Option(True, "--appearance/--no-appearance", help="Fit the appearance step."),
) -> None:
    """Every person of --data scored by a geometric model that never saw them (K folds), beside the baselines."""
    from facexpr.experiments.crossval import cross_validate_geometric
    from facexpr.models.geometric import GeometricOptions

    options = GeometricOptions(appearance=appearance, region=region)
    with progress_bar("cross-validation") as progress:
        result = cross_validate_geometric(data, out, folds, extra or [], extra_split, options, progress=progress)
    names = list(result.document["metrics"])
    table = Table("metric", *names)
    for metric in SHOWN:
        cells = [result.document["metrics"][n][metric] for n in names]
        table.add_row(metric, *(c if isinstance(c, str) else f"{c:.4g}" for c in cells))
    console.print(table)
    console.print(f"[green]{result.document['items']} items of {result.document['people']} people[/green]; "
                  f"{out / 'crossval.md'}")
