"""``facexpr demo``: the main job on the embedded default data (synthetic faces)."""

from __future__ import annotations

from pathlib import Path

import typer

from facexpr.cli.common import console, friendly_errors, progress_bar


@friendly_errors
def demo_command(
    out: Path = typer.Option(Path("demo_out"), "--out", "-o", help="Folder for everything the demo writes."),
    subjects: int = typer.Option(40, "--subjects", "-n", min=8, help="Synthetic people to generate."),
    size: int = typer.Option(128, "--size", min=32, max=512, help="Aligned crop size."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic people and of training."),
    epochs: int = typer.Option(12, "--epochs", min=1, help="Training epochs of each stage."),
    train: bool = typer.Option(True, "--train/--no-train", help="Train and neutralize, or stop after the contact sheet."),
) -> None:
    """Synthetic faces -> aligned crops -> stage 1 (beta-VAE) -> stage 2 (neutralizer) -> held-out people neutralized."""
    from facexpr.demo import DemoSettings, run_demo

    settings = DemoSettings(subjects=subjects, size=size, seed=seed, vae_epochs=epochs, neutralizer_epochs=epochs)
    with progress_bar("demo") as progress:
        report = run_demo(out, settings, progress=progress, train=train)
    console.print(f"[green]demo done[/green]: {report.aligned} crops of {report.subjects} subjects; "
                  f"contact sheet {report.contact_sheet}")
    if report.report is not None:
        metrics = report.metrics
        identity = metrics["baselines"].get("identity", {}).get("metrics", {})
        console.print(f"held-out people: PSNR {metrics['metrics']['psnr']:.2f} dB (returning the input: "
                      f"{identity.get('psnr', float('nan')):.2f}), SSIM {metrics['metrics']['ssim']:.3f} "
                      f"({identity.get('ssim', float('nan')):.3f}); report {report.report}")
