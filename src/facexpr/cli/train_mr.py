"""``facexpr train mr``: masked regression (and its baselines) for one expression mapping or all of them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from facexpr.cli.common import console, friendly_errors, progress_bar
from facexpr.io import BadInputError

METHODS = ("ridge", "lasso", "omp", "global")


def _mapping_folder(source: str, target: str) -> str:
    """The subfolder of one mapping under ``--all-mappings``: ``happy-to-neutral``."""
    return f"{source}-to-{target}"


def _check(out: Path, r: int, dilation: int, lam: float, colour: str, method: str, l1: float, nonzero: int,
           ego_threshold: float, ego_radius: float, ego_sigma: Optional[float]) -> None:
    """Reject bad options in one line before any crop is read."""
    from facexpr.models.masked_regression import COLOUR_MODES

    if method not in METHODS:
        raise BadInputError(out, f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    if colour not in COLOUR_MODES:
        raise BadInputError(out, f"--colour must be one of {', '.join(COLOUR_MODES)}, not {colour!r}")
    if r < 1 or r % 2 == 0:
        raise BadInputError(out, f"--r must be a positive odd number, not {r}")
    if dilation < 1:
        raise BadInputError(out, f"--dilation must be at least 1, not {dilation}")
    if not lam > 0 or not l1 > 0:
        raise BadInputError(out, f"--lambda and --l1 must be positive, not {lam} and {l1}")
    if not 1 <= nonzero <= r * r:
        raise BadInputError(out, f"--nonzero must be between 1 and r*r = {r * r}, not {nonzero}")
    for name, value in (("--ego-threshold", ego_threshold), ("--ego-radius", ego_radius), ("--ego-sigma", ego_sigma)):
        if value is not None and value < 0:
            raise BadInputError(out, f"{name} must not be negative, not {value}")


@friendly_errors
def train_mr_command(
    data: Path = typer.Option(..., "--data", "-d", help="A prepared dataset folder (facexpr prepare)."),
    out: Path = typer.Option(..., "--out", "-o", help="Model folder (with --all-mappings: one subfolder per mapping)."),
    source: Optional[str] = typer.Option(None, "--source", help="Input expression, e.g. happy (neutralization) or neutral (synthesis)."),
    target: Optional[str] = typer.Option(None, "--target", help="Output expression (default: neutral)."),
    all_mappings: bool = typer.Option(False, "--all-mappings", help="Train every neutral <-> expression mapping of the split."),
    split: str = typer.Option("train", "--split", help="Split to train on (train, val, test or all)."),
    r: int = typer.Option(3, "--r", help="Receptive field side (odd): each output pixel sees r x r input pixels."),
    dilation: int = typer.Option(1, "--dilation", help="Spacing of the receptive field's taps in pixels."),
    lam: float = typer.Option(0.3, "--lambda", help="Ridge penalty against the error summed over pairs (ridge; global: see --global-lambda)."),
    colour: str = typer.Option("tuple", "--colour", help="tuple (one weight set shared by R, G, B) or channel (one per channel)."),
    ego: bool = typer.Option(True, "--ego/--no-ego", help="Blend the output with the input where the weights are ordinary."),
    ego_threshold: float = typer.Option(0.25, "--ego-threshold", help="Weight-norm z-score above which a pixel is the expression's."),
    ego_radius: float = typer.Option(0.0, "--ego-radius", help="Disk dilation radius of that mask, in pixels."),
    ego_sigma: Optional[float] = typer.Option(None, "--ego-sigma", help="Gaussian smoothing of the mask in pixels (default: size/8)."),
    method: str = typer.Option("ridge", "--method", help="ridge (masked regression), or a baseline: lasso, omp, global."),
    l1: float = typer.Option(0.01, "--l1", help="lasso: l1 penalty against the error summed over pairs."),
    nonzero: int = typer.Option(3, "--nonzero", help="omp: taps each pixel may use."),
    global_lambda: float = typer.Option(10.0, "--global-lambda", help="global: ridge penalty of the whole-image map."),
) -> None:
    """Fit masked regression (Khan et al.) for a source -> target expression mapping, in closed form.

    Neutralization: --source happy --target neutral. Synthesis: --source neutral --target happy.
    The model folder holds config.json, weights.safetensors and bias/weight_norm/alpha PNGs.
    """
    from facexpr.data.pairing import PreparedDataset
    from facexpr.models.masked_regression import (
        EgoOptions,
        GlobalRidge,
        MaskedLasso,
        MaskedOMP,
        MaskedRegression,
        ReceptiveField,
        expression_mappings,
    )

    _check(out, r, dilation, lam, colour, method, l1, nonzero, ego_threshold, ego_radius, ego_sigma)
    if not global_lambda > 0:
        raise BadInputError(out, f"--global-lambda must be positive, not {global_lambda}")
    prepared = PreparedDataset(data, cache_size=None)
    chosen_split = None if split == "all" else split
    if chosen_split is not None and chosen_split not in prepared.splits:
        raise BadInputError(prepared.manifest_path, f"no split {split!r} (present: {', '.join(prepared.splits)})")
    if all_mappings:
        if source is not None or target is not None:
            raise BadInputError(out, "--all-mappings trains every mapping: leave out --source and --target")
        mappings = expression_mappings(prepared, chosen_split)
        if not mappings:
            raise BadInputError(prepared.manifest_path, f"no neutral <-> expression pair in split {split!r}")
        folders = [out / _mapping_folder(s, t) for s, t in mappings]
    elif source is None:
        raise BadInputError(out, "give --source (and --target, neutral by default), or --all-mappings")
    else:
        mappings, folders = [(source, target or "neutral")], [out]

    field = ReceptiveField(r, dilation)
    ego_options = EgoOptions(ego, ego_threshold, ego_radius, ego_sigma)
    fitters = {
        "ridge": lambda s, t, p: MaskedRegression.fit(prepared, chosen_split, s, t, field, lam, colour, ego_options, p),
        "lasso": lambda s, t, p: MaskedLasso.fit(prepared, chosen_split, s, t, field, l1, colour, ego_options, p),
        "omp": lambda s, t, p: MaskedOMP.fit(prepared, chosen_split, s, t, field, nonzero, colour, ego_options, p),
        "global": lambda s, t, p: GlobalRidge.fit(prepared, chosen_split, s, t, global_lambda, p),
    }
    table = Table("mapping", "pairs", "seconds", "folder")
    for (mapping_source, mapping_target), folder in zip(mappings, folders):
        with progress_bar(f"{mapping_source} -> {mapping_target}") as progress:
            began = time.perf_counter()
            model = fitters[method](mapping_source, mapping_target, progress)
            seconds = time.perf_counter() - began
        model.save(folder, {"training": {"data": str(data), "split": split, "seconds": round(seconds, 3)}})
        table.add_row(f"{mapping_source} -> {mapping_target}", str(model.fit_options["pairs"]), f"{seconds:.2f}", str(folder))
    console.print(table)
    console.print(f"[green]model{'s' if len(folders) > 1 else ''}:[/green] {out} "
                  f"(facexpr evaluate --model {folders[0]} --data ...)")
