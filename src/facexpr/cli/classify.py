"""``facexpr classify``: the expression of the face in each photo, as a CSV of class probabilities."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from facexpr.cli.common import console, friendly_errors, progress_bar


@friendly_errors
def classify_command(
    photos: List[Path] = typer.Argument(..., help="Photos of any size; the largest face of each is detected and aligned."),
    model: str = typer.Option(
        "fer", "--model", "-m", help="fer (the FER2013 expression judge shipped with facexpr) or a model folder that classifies."),
    out: Path = typer.Option(..., "--out", "-o", help="The CSV to write: path, expression, one p_<class> column per class."),
) -> None:
    """The expression of the face in each photo: a CSV row per photo with the probability of every class.

    A photo that cannot be classified (unreadable, no face) gets a one-line error; the others are still
    written, and the exit code is 2.
    """
    from facexpr.inference import classify_photos
    from facexpr.io import write_text_atomic
    from facexpr.models.classifiers import load_classifier

    classifier = load_classifier(model)
    with progress_bar("classify") as progress:
        result = classify_photos(classifier, photos, progress=progress)
    for reason in result.failed:
        console.print(f"[red]error:[/red] {reason}", highlight=False, soft_wrap=True)
    if not result.paths:
        console.print(f"[red]no photo could be classified; {out} not written[/red]", highlight=False)
        raise typer.Exit(2)
    write_text_atomic(out, result.csv_text())
    console.print(f"[green]{len(result.paths)} photo(s) classified ({model}): {out}[/green]", highlight=False)
    if result.failed:
        raise typer.Exit(2)
