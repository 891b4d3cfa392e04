"""``facexpr neutralize`` and ``facexpr synthesize``: a trained model applied to raw photos."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from facexpr.cli.common import console, friendly_errors, progress_bar
from facexpr.io import BadInputError

MODEL = typer.Option(None, "--model", "-m",
                     help="A trained model folder (config.json + weights.safetensors); default: the shipped geometric model.")
PHOTOS = typer.Argument(..., help="Photos of any size; faces are detected and aligned.")
OUT = typer.Option(..., "--out", "-o", help="Folder for the output crops.")
PASTE = typer.Option(False, "--paste", help="Also blend each output back into its original photo.")
STRENGTH = typer.Option(1.0, "--strength", "-s", min=0.0, max=3.0,
                        help="How far to go: 0 keeps the input, 1 is the full expression, above 1 exaggerates it.")


def resolve_for_task(model_dir: Optional[Path], task: str, target: Optional[str], strength: float):
    """The model to apply: the folder's (or the shipped one), set to ``target`` where it can be, after checking
    that it produces it at ``strength``.

    Raises:
        BadInputError: a model of the other task, an expression it cannot produce, or a strength it cannot dial.
    """
    from facexpr.models import ConditionalModel, load_model
    from facexpr.models.geometric import default_model

    model = default_model() if model_dir is None else load_model(model_dir)
    where = model_dir or Path("shipped model")
    expressions = [e for e in model.target_expressions if (e == "neutral") == (task == "neutralize")]
    if not expressions:
        raise BadInputError(where, f"{model.name} is a {model.task} model; use facexpr {model.task}")
    chosen = "neutral" if task == "neutralize" else target or expressions[0]
    if chosen not in expressions:
        raise BadInputError(where, f"{model.name} cannot {task} to {chosen!r} (it knows: "
                                   f"{', '.join(model.target_expressions)})")
    try:
        model.check_request(chosen, strength)
    except ValueError as error:
        raise BadInputError(where, f"{error}; leave out --strength") from None
    return model.for_target(chosen) if isinstance(model, ConditionalModel) else model


def _run(model_dir: Optional[Path], photos: List[Path], out: Path, paste: bool, together: Optional[bool], task: str,
         target: Optional[str] = None, strength: float = 1.0) -> None:
    """Load the model, check it does ``task``, apply it and say what was written and skipped."""
    from facexpr.data.records import normalize_expression
    from facexpr.inference import apply_to_photos

    model = resolve_for_task(model_dir, task, normalize_expression(target) if target else None, strength)
    with progress_bar(task) as progress:
        result = apply_to_photos(model, photos, out, paste=paste, together=together, progress=progress,
                                 strength=strength)
    for reason in result.skipped:
        console.print(f"[yellow]skipped:[/yellow] {reason}", highlight=False, soft_wrap=True)
    written = len(result.outputs) + len(result.pasted)
    console.print(f"[green]{written} file(s) written to {out}[/green] ({model.name})")


@friendly_errors
def neutralize_command(
    photos: List[Path] = PHOTOS,
    model: Optional[Path] = MODEL,
    out: Path = OUT,
    paste: bool = PASTE,
    strength: float = STRENGTH,
    together: Optional[bool] = typer.Option(
        None, "--together/--separately",
        help="One neutral face from all photos (one person) or one per photo; default: together for multi-image models."),
) -> None:
    """The neutral face of the person in the photos (several photos of one person are used together)."""
    _run(model, photos, out, paste, together, "neutralize", strength=strength)


@friendly_errors
def synthesize_command(
    photos: List[Path] = PHOTOS,
    model: Optional[Path] = MODEL,
    out: Path = OUT,
    paste: bool = PASTE,
    target: Optional[str] = typer.Option(
        None, "--target", "-t", help="Expression to produce (e.g. happy); default: the model's (its first for multi-target models)."),
    strength: float = STRENGTH,
) -> None:
    """A target expression on the face of each photo."""
    _run(model, photos, out, paste, False, "synthesize", target, strength)
