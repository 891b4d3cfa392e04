"""``facexpr demo``: the main job on the embedded default data (synthetic faces)."""

from __future__ import annotations

from pathlib import Path

import typer

from facexpr.cli.common import console, friendly_errors, progress_bar


@friendly_errors
def demo_command(
    out: Path = typer.Option(Path("demo_out"), "--out", "-o", help="Folder for everything the demo writes."),
    subjects: int = typer.Option(8, "--subjects", "-n", min=2, help="Synthetic people to generate."),
    size: int = typer.Option(128, "--size", min=32, max=512, help="Aligned crop size."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic people."),
) -> None:
    """Generate synthetic faces, align them with the face pipeline and write a contact sheet."""
    from facexpr.demo import run_demo

    with progress_bar("demo") as progress:
        report = run_demo(out, subjects=subjects, size=size, seed=seed, progress=progress)
    console.print(f"[green]demo done[/green]: {report.aligned} crops of {report.subjects} subjects; "
                  f"contact sheet {report.contact_sheet}")
