"""``facexpr train geometric``: landmark shape maps, thin-plate-spline warp and appearance step from prepared folders."""

from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from facexpr.cli.common import console, friendly_errors, progress_bar
from facexpr.io import BadInputError


@friendly_errors
def train_geometric_command(
    data: List[Path] = typer.Option(..., "--data", "-d", help="A prepared dataset folder; repeat to mix datasets."),
    out: Path = typer.Option(..., "--out", "-o", help="Model folder (config.json + weights.safetensors)."),
    split: str = typer.Option("train", "--split", help="Split to train on (train, val, test or all)."),
    size: Optional[int] = typer.Option(None, "--size", help="Crop size of the model (default: the first dataset's)."),
    alpha: Optional[float] = typer.Option(
        None, "--alpha", help="Ridge penalty of the shape maps (default: chosen by subject-level cross-validation)."),
    components: Optional[int] = typer.Option(None, "--components", help="PCA shape-space dimensions (default: all 136)."),
    appearance: bool = typer.Option(True, "--appearance/--no-appearance", help="Fit the appearance step (off: warp only)."),
    appearance_lambda: float = typer.Option(0.3, "--appearance-lambda", help="Ridge penalty of the appearance regression."),
    smoothing: float = typer.Option(1.0, "--smoothing", help="Gaussian smoothing of the appearance correction (pixels at 128 px)."),
    region: str = typer.Option("face", "--region", help="Where the appearance step may act: face (jaw to brows) or lower."),
    neutral_pairs: bool = typer.Option(
        True, "--neutral-pairs/--no-neutral-pairs", help="Also learn neutral -> neutral, so neutral faces stay put."),
) -> None:
    """Fit the geometric model: where the landmarks go, a warp there, and a masked appearance correction.

    It learns neutralization from every expressive -> neutral pair of one person
    and synthesis of every expression the data has (neutral -> expression).
    """
    from facexpr.data.pairing import PreparedDataset
    from facexpr.models.geometric import GeometricOptions, fit_geometric

    datasets = [PreparedDataset(folder, cache_size=None) for folder in data]
    chosen = None if split == "all" else split
    for dataset in datasets:
        if chosen is not None and chosen not in dataset.splits:
            raise BadInputError(dataset.manifest_path, f"no split {split!r} (present: {', '.join(dataset.splits)})")
    if size is not None and not 8 <= size <= 1024:
        raise BadInputError(out, f"--size must be between 8 and 1024, not {size}")
    options = GeometricOptions(alpha or GeometricOptions.alpha, components, appearance, appearance_lambda, smoothing,
                               neutral_pairs, region)
    try:
        options.check()
    except ValueError as error:
        raise BadInputError(out, str(error)) from None
    began = time.perf_counter()
    with progress_bar("geometric") as progress:
        model = fit_geometric(datasets, chosen, options, size=size, cross_validate=alpha is None, progress=progress)
    seconds = time.perf_counter() - began
    model.training["seconds"] = round(seconds, 3)
    model.save(out)
    table = Table("target", "pairs", "alpha")
    for target in model.target_expressions:
        table.add_row(target, str(model.training["pairs"][target]), f"{model.training['alpha'][target]:g}")
    console.print(table)
    for reason in model.training["skipped"]:
        console.print(f"[yellow]skipped:[/yellow] {reason}", highlight=False, soft_wrap=True)
    console.print(f"[green]model:[/green] {out} ({model.training['crops']} crops of {model.training['people']} people, "
                  f"{seconds:.1f} s; facexpr evaluate --model {out} --data ...)")
