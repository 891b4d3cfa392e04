"""``facexpr synthetic``: write a folder of procedural faces (the embedded default dataset)."""

from __future__ import annotations

from pathlib import Path

import typer

from facexpr.cli.common import console, friendly_errors


@friendly_errors
def synthetic_command(
    out: Path = typer.Argument(..., help="Folder to write (layout: OUT/<subject>/<expression>/<take>.png)."),
    subjects: int = typer.Option(12, "--subjects", "-n", min=1, help="Number of synthetic people."),
    expressions: str = typer.Option("neutral,happy,sad,surprise", "--expressions", help="Comma-separated expression presets."),
    size: int = typer.Option(160, "--size", min=32, max=1024, help="Image side in pixels."),
    takes: int = typer.Option(1, "--takes", min=1, help="Shots per subject and expression."),
    seed: int = typer.Option(0, "--seed", help="Seed of identities and placements."),
) -> None:
    """Generate seeded synthetic faces with their 68 landmarks (sidecar JSON beside each image)."""
    from facexpr.data.synthetic import EXPRESSIONS, generate_dataset

    names = tuple(e.strip() for e in expressions.split(",") if e.strip())
    unknown = sorted(set(names) - set(EXPRESSIONS))
    if unknown:
        console.print(f"[red]error:[/red] unknown expression(s) {', '.join(unknown)}; choose from {', '.join(EXPRESSIONS)}")
        raise typer.Exit(2)
    paths = generate_dataset(out, n_subjects=subjects, expressions=names, size=size, seed=seed, takes=takes)
    console.print(f"[green]wrote {len(paths)} synthetic face(s)[/green] of {subjects} subject(s) to {out}")
