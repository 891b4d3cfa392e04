"""``facexpr experiments``: the thesis' tables 6.1, 6.2 and 6.3 regenerated on a prepared dataset, and the seed
systems' tables (``seed001``: "Generating Facial Expressions"; ``nfgan``: NFGAN's ablation; ``seed002``: the
emotion-VAE paper's three Fader conditions)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from facexpr.cli.common import console, friendly_errors
from facexpr.io import BadInputError


def _names(text: Optional[str], option: str) -> tuple[str, ...] | None:
    """A comma-separated option as a tuple (None when not given).

    Raises:
        BadInputError: an empty list.
    """
    if text is None:
        return None
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    if not values:
        raise BadInputError(Path("."), f"{option}: give one or more comma-separated values")
    return values


def _numbers(text: Optional[str], option: str) -> tuple[int, ...] | None:
    """A comma-separated list of whole numbers (None when not given).

    Raises:
        BadInputError: a value that is not a whole number.
    """
    values = _names(text, option)
    if values is None:
        return None
    try:
        return tuple(int(v) for v in values)
    except ValueError:
        raise BadInputError(Path("."), f"{option}: expected whole numbers like 3,5,7, got {text!r}") from None


@friendly_errors
def experiments_command(
    table: str = typer.Option(..., "--table", "-t", help="Which tables: 6.1, 6.2, 6.3, a comma list, or all (the thesis'); seed001; nfgan; seed002."),
    data: List[Path] = typer.Option(..., "--data", "-d", help="A prepared dataset folder (facexpr prepare); seed001, nfgan, seed002: repeat for several."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder of the runs and tables; rerun the same command to resume."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Maximum epochs per run (default 60; nfgan: 25; seed002: 25, 8-11 min per Fader on 2 CPU cores at 64 px; the stopping rule may stop earlier)."),
    preset: str = typer.Option("cpu", "--preset", help="cpu (64 px, 1/8 widths) or paper (128 px, published widths; for GPUs)."),
    size: Optional[int] = typer.Option(None, "--size", help="Crop side: 32, 64, 128 or 256 (default: the preset's; nfgan, seed002: 64)."),
    width: Optional[float] = typer.Option(None, "--width", help="Width multiplier of the published channels (default: the preset's)."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Items per step."),
    seed: int = typer.Option(0, "--seed", help="Random seed of every run."),
    epoch_items: int = typer.Option(512, "--epoch-items", min=0, help="Draw at least this many training items per epoch (small datasets are repeated with new augmentations; 0: one pass)."),
    split: str = typer.Option("train", "--split", help="Split to train on (validation uses 'val')."),
    archs: Optional[str] = typer.Option(None, "--archs", help="Encoders, e.g. vgg,resnet (default: 6.1 all three, 6.2 vgg, 6.3 vgg,resnet)."),
    betas: Optional[str] = typer.Option(None, "--betas", help="6.1: beta schedules (default: incremental,fixed)."),
    modes: Optional[str] = typer.Option(None, "--modes", help="6.2/6.3: transfer modes (default: 6.2 frozen-reg, 6.3 scratch,scratch-reg,frozen,frozen-reg)."),
    shots: Optional[str] = typer.Option(None, "--shots", "-n", help="6.2/6.3: input photos per subject (default: 6.2 3,5,7; 6.3 1)."),
    stage1_beta: str = typer.Option("incremental", "--stage1-beta", help="6.2/6.3: beta schedule of the stage-1 models they train first."),
    pretrained: Optional[List[Path]] = typer.Option(None, "--pretrained", "-p", help="6.2/6.3: a stage-1 model to use instead of training one (repeat, one per encoder)."),
    blend: bool = typer.Option(False, "--blend/--no-blend", help="Stage 2 with our blending mask (default: the thesis' model, without)."),
    rows: Optional[str] = typer.Option(None, "--rows", help="seed001, nfgan, seed002: the rows to run, comma-separated (default: all)."),
    eval_split: str = typer.Option("test", "--eval-split", help="seed001, nfgan, seed002: the split of held-out people it measures."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show each training's progress bar."),
) -> None:
    """Regenerate the thesis' tables (6.1 stage-1 encoders x beta schedules; 6.2 N input photos; 6.3 transfer
    modes x encoders), table seed001 (two-step CNN and conditional DCGAN as published, and the fixes), table
    nfgan (NFGAN without each loss, as published, and on the geometric model's face) or table seed002 (the Fader
    network's three conditions: l2, multiclass, adversarial; and ours, on-warp) as Markdown + JSON in --out; finished runs are read
    back, interrupted ones resume."""
    from facexpr.experiments import TABLES, ExperimentSettings, run_tables

    def report(line: str) -> None:
        console.print(f"[bold]{line}[/bold]", highlight=False)

    if table.strip() == "nfgan":
        from facexpr.experiments import NFGANTableSettings, run_nfgan_table
        from facexpr.experiments.nfgan_table import PLOT_FILE

        markdown, raw = run_nfgan_table(NFGANTableSettings(
            data=tuple(data), out=out, rows=_names(rows, "--rows"), epochs=epochs or NFGANTableSettings.epochs,
            batch_size=batch_size, seed=seed, epoch_items=epoch_items, size=size or NFGANTableSettings.size,
            split=split, eval_split=eval_split, progress=progress), report)
        typer.echo(markdown.read_text(encoding="utf-8"))
        console.print(f"[green]table nfgan:[/green] {markdown} (raw: {raw}; identity distances: "
                      f"{markdown.parent / PLOT_FILE})")
        return
    if table.strip() == "seed001":
        from facexpr.experiments import Seed001Settings, run_seed001

        markdown, raw = run_seed001(Seed001Settings(
            data=tuple(data), out=out, rows=_names(rows, "--rows"), epochs=epochs or Seed001Settings.epochs,
            batch_size=batch_size, seed=seed, epoch_items=epoch_items, split=split, eval_split=eval_split,
            progress=progress), report)
        typer.echo(markdown.read_text(encoding="utf-8"))
        console.print(f"[green]table seed001:[/green] {markdown} (raw: {raw})")
        return
    if table.strip() == "seed002":
        from facexpr.experiments import Seed002Settings, run_seed002

        markdown, raw = run_seed002(Seed002Settings(
            data=tuple(data), out=out, rows=_names(rows, "--rows"), epochs=epochs or Seed002Settings.epochs,
            batch_size=batch_size, seed=seed, epoch_items=epoch_items, size=size or Seed002Settings.size,
            split=split, eval_split=eval_split, progress=progress), report)
        typer.echo(markdown.read_text(encoding="utf-8"))
        console.print(f"[green]table seed002:[/green] {markdown} (raw: {raw})")
        return
    numbers = list(TABLES) if table.strip() == "all" else list(_names(table, "--table") or ())
    unknown = [n for n in numbers if n not in TABLES]
    if unknown:
        raise BadInputError(out, f"unknown table {', '.join(unknown)}; choose from {', '.join(TABLES)}, all, "
                                 "seed001, nfgan, seed002")
    if len(data) != 1:
        raise BadInputError(data[-1], "the thesis' tables train on one prepared folder; give --data once")
    settings = ExperimentSettings(
        data=data[0], out=out, preset=preset, size=size, width=width, epochs=epochs or ExperimentSettings.epochs,
        batch_size=batch_size, seed=seed, epoch_items=epoch_items, split=split, archs=_names(archs, "--archs"),
        betas=_names(betas, "--betas"), modes=_names(modes, "--modes"), shots=_numbers(shots, "--shots"),
        stage1_beta=stage1_beta, pretrained=tuple(pretrained or ()), blend=blend, progress=progress)
    for result in run_tables(numbers, settings, report=report):
        typer.echo(result.markdown.read_text(encoding="utf-8"))
        console.print(f"[green]table {result.table.number}:[/green] {result.markdown} (raw summaries: {result.json})")
