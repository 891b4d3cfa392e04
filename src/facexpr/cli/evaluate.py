"""``facexpr evaluate`` and ``facexpr compare``: one yardstick for every model."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from facexpr.cli.common import console, friendly_errors, progress_bar

SPLIT_HELP = "Which split to evaluate: test, val, train or all."
MODEL_HELP = "A model directory, or a built-in baseline: identity, mean-neutral (mean-happy, ... for synthesis)."


def _show(runs) -> None:
    """Print the metric table of several runs."""
    from facexpr.evaluation.report import metric_table

    rows = metric_table(runs)
    table = Table(*(text for text, _ in rows[0]))
    for row in rows[1:]:
        table.add_row(*(f"[bold green]{text}[/]" if best else text for text, best in row))
    console.print(table)


@friendly_errors
def evaluate_command(
    model: str = typer.Option(..., "--model", "-m", help=MODEL_HELP),
    data: Path = typer.Option(..., "--data", "-d", help="A prepared dataset folder (facexpr prepare)."),
    split: str = typer.Option("test", "--split", help=SPLIT_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for pairs/, metrics.json, items.csv, report.html/md."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Items per model call."),
    shots: Optional[int] = typer.Option(
        None, "--shots", min=1, help="Photos of a person given together (default: the model's; >1: one item per person)."),
) -> None:
    """Run a model on every item of a split, score it with every judge, and report it beside the baselines."""
    from facexpr.evaluation import evaluate

    with progress_bar("evaluate") as progress:
        result = evaluate(model, data, split, out, batch_size=batch_size, progress=progress, shots=shots)
    _show(result.runs)
    stability = result.document.get("neutral_inputs")
    if stability:
        table = Table("neutral inputs stay neutral", "n", "landmark shift", "p(neutral) change", "sharpness")
        for name, values in stability.items():
            table.add_row(name, str(values["n"]), *(_number(values[k]) for k in ("landmark_shift", "p_neutral_change", "sharpness")))
        console.print(table)
    conditional = result.document.get("conditional")
    if conditional:
        _show_conditional(conditional)
    console.print(f"[green]{len(result.items)} items[/green]; report: {result.out_dir / 'report.html'}")


def _show_conditional(conditional: dict) -> None:
    """Print the conditional yardstick: each requested target on the neutral photos, and the identity-function
    score."""
    table = Table("asked for (on neutral photos)", "n", "FER top-1", "identity rank-1", "identity distance",
                  "sharpness", "change from input", "lip-corner lift moved (real photos)",
                  "mouth opening moved (real photos)")
    for target, values in conditional["targets"].items():
        moved = [f"{_number(values[f'd_{cue}'])} ({_number(values.get(f'real_d_{cue}', '-'))})"
                 for cue in ("lip_corner_lift", "mouth_open")]
        table.add_row(target, str(values["n"]), *(_number(values[k]) for k in (
            "expression_top1", "id_rank1", "id_distance", "sharpness", "to_input")), *moved)
    console.print(table)
    console.print(f"identity-function score: outputs for two different targets differ by "
                  f"{_number(conditional['between_targets'])} (mean absolute, 0 = the one-hot changes nothing)")


def _number(value) -> str:
    """A metric as 4 significant digits (strings such as "nan" as they are)."""
    return value if isinstance(value, str) else f"{value:.4g}"


@friendly_errors
def compare_command(
    models: List[str] = typer.Option(..., "--models", "-m", help=MODEL_HELP + " Several may follow: --models A B C."),
    more: List[str] = typer.Argument(None, metavar="[MODEL]...", help="More models (the words after --models A)."),
    data: Path = typer.Option(..., "--data", "-d", help="A prepared dataset folder (facexpr prepare)."),
    split: str = typer.Option("test", "--split", help=SPLIT_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the comparison report."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Items per model call."),
) -> None:
    """Several models on the same items: one table and one grid."""
    from facexpr.evaluation import compare

    with progress_bar("compare") as progress:
        result = compare([*models, *(more or [])], data, split, out, batch_size=batch_size, progress=progress)
    _show(result.runs)
    console.print(f"[green]{len(result.items)} items[/green]; report: {result.out_dir / 'report.html'}")


@friendly_errors
def benchmark_command(
    out: Path = typer.Option(Path("bench.json"), "--out", "-o", help="JSON file to write."),
    sizes: str = typer.Option("64,128", "--sizes", help="Crop sizes to measure."),
    subjects: int = typer.Option(24, "--subjects", min=4, help="Synthetic people to fit on."),
) -> None:
    """Fit time and inference milliseconds per face (batch 1 and 64) of every model family, as JSON."""
    import json

    from facexpr.evaluation.benchmark import run_benchmark
    from facexpr.io import BadInputError, write_text_atomic

    try:
        chosen = tuple(int(s) for s in sizes.split(",") if s.strip())
    except ValueError:
        raise BadInputError(out, f"--sizes must be comma-separated integers, not {sizes!r}") from None
    with progress_bar("benchmark") as progress:
        report = run_benchmark(chosen, subjects, progress=progress)
    write_text_atomic(out, json.dumps(report, indent=2))
    table = Table("family", "size", "fit s", "ms/face b1", "ms/face b64", "parameters", "file bytes")
    for r in report["results"]:
        table.add_row(r["family"], str(r["size"]), str(r["fit_seconds"]), str(r["ms_per_face_batch1"]),
                      str(r["ms_per_face_batch64"]), str(r["parameters"]), str(r["file_bytes"]))
    console.print(table)
    console.print(f"wrote {out}")
