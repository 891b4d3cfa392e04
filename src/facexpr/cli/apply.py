"""``facexpr neutralize`` and ``facexpr synthesize``: a trained model applied to raw photos."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from facexpr.cli.common import console, friendly_errors, progress_bar
from facexpr.io import BadInputError

MODEL = typer.Option(..., "--model", "-m", help="A trained model folder (config.json + weights.safetensors).")
PHOTOS = typer.Argument(..., help="Photos of any size; faces are detected and aligned.")
OUT = typer.Option(..., "--out", "-o", help="Folder for the output crops.")
PASTE = typer.Option(False, "--paste", help="Also blend each output back into its original photo.")


def _run(model_dir: Path, photos: List[Path], out: Path, paste: bool, together: Optional[bool], task: str) -> None:
    """Load the model, check it does ``task``, apply it and say what was written and skipped."""
    from facexpr.inference import apply_to_photos
    from facexpr.models import load_model

    model = load_model(model_dir)
    if model.task != task:
        raise BadInputError(model_dir, f"{model.name} is a {model.task} model; use facexpr {model.task}")
    with progress_bar(task) as progress:
        result = apply_to_photos(model, photos, out, paste=paste, together=together, progress=progress)
    for reason in result.skipped:
        console.print(f"[yellow]skipped:[/yellow] {reason}", highlight=False, soft_wrap=True)
    written = len(result.outputs) + len(result.pasted)
    console.print(f"[green]{written} file(s) written to {out}[/green] ({model.name})")


@friendly_errors
def neutralize_command(
    photos: List[Path] = PHOTOS,
    model: Path = MODEL,
    out: Path = OUT,
    paste: bool = PASTE,
    together: Optional[bool] = typer.Option(
        None, "--together/--separately",
        help="One neutral face from all photos (one person) or one per photo; default: together for multi-image models."),
) -> None:
    """The neutral face of the person in the photos (several photos of one person are used together)."""
    _run(model, photos, out, paste, together, "neutralize")


@friendly_errors
def synthesize_command(
    photos: List[Path] = PHOTOS,
    model: Path = MODEL,
    out: Path = OUT,
    paste: bool = PASTE,
) -> None:
    """The model's target expression on the face of each photo."""
    _run(model, photos, out, paste, False, "synthesize")
