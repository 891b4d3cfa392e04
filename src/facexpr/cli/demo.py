"""``facexpr demo``: the main job on the embedded default data (synthetic faces)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from facexpr.cli.common import console, friendly_errors, progress_bar
from facexpr.io import BadInputError

#: Where the real-face comparison looks for the FRL London photos by default (the repository's neighbour).
REAL_DEFAULT = Path("../shared/data/frl_london")


@friendly_errors
def demo_command(
    out: Path = typer.Option(Path("demo_out"), "--out", "-o", help="Folder for everything the demo writes."),
    subjects: int = typer.Option(40, "--subjects", "-n", min=8, help="Synthetic people to generate."),
    size: int = typer.Option(128, "--size", min=32, max=512, help="Aligned crop size."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic people and of training."),
    epochs: int = typer.Option(12, "--epochs", min=1, help="Training epochs of each stage."),
    train: bool = typer.Option(True, "--train/--no-train", help="Train and neutralize, or stop after the contact sheet."),
    real: Optional[Path] = typer.Option(
        None, "--real", help=f"The Face Research Lab London folder to compare on real faces too (default: {REAL_DEFAULT} "
                             "if it exists; --real none to skip)."),
) -> None:
    """Synthetic faces -> aligned crops -> VAE stages 1 and 2, the geometric model and masked regression ->
    held-out people neutralized and compared (and the same on real photos where present)."""
    from facexpr.demo import DemoSettings, run_demo

    if real is None and REAL_DEFAULT.is_dir():
        real = REAL_DEFAULT
    elif real is not None and str(real) == "none":
        real = None
    elif real is not None and not real.is_dir():
        raise BadInputError(real, "no such folder (the Face Research Lab London photos)")
    settings = DemoSettings(subjects=subjects, size=size, seed=seed, vae_epochs=epochs, neutralizer_epochs=epochs,
                            real=real)
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
        for comparison in report.comparisons:
            runs = {m["model"]: m["metrics"] for m in comparison.document["models"]}
            geometric = next(v for k, v in runs.items() if k.startswith("geometric"))
            console.print(f"{comparison.title}, held-out smiles: geometric landmark error "
                          f"{geometric['landmark_error']:.4f} (input {runs['identity']['landmark_error']:.4f}), "
                          f"p(neutral) {geometric['p_neutral']:.2f} ({runs['identity']['p_neutral']:.2f}), "
                          f"PSNR {geometric['psnr']:.2f} dB ({runs['identity']['psnr']:.2f}); {comparison.grid}")
