"""``facexpr sample`` and ``facexpr tsne``: look into a trained model's latent space."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import typer

from facexpr.cli.common import console, friendly_errors, progress_bar
from facexpr.io import BadInputError

MODEL = typer.Option(..., "--model", "-m", help="A trained vae or neutralizer model folder.")


def _space(model_dir: Path):
    """The model folder's latent space (one-line error for models without one)."""
    from facexpr.models import load_model
    from facexpr.models.vae.latent import LatentSpace

    model = load_model(model_dir)
    try:
        return LatentSpace(model)
    except ValueError as error:
        raise BadInputError(model_dir, str(error)) from None


def _records(data: Path, split: str):
    """The prepared dataset and its records of ``split`` (``all``: every split)."""
    from facexpr.data.pairing import PreparedDataset

    prepared = PreparedDataset(data)
    records = prepared.select(None if split == "all" else split)
    if not records:
        raise BadInputError(data, f"no crop in split {split!r} (splits: {', '.join(prepared.splits)}, or all)")
    return prepared, records


@friendly_errors
def sample_command(
    model: Path = MODEL,
    out: Path = typer.Option(..., "--out", "-o", help="The PNG grid to write."),
    n: int = typer.Option(16, "--n", "-n", min=1, help="Faces to sample (or crops to reconstruct)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the latents, noise images or chosen crops."),
    from_noise: bool = typer.Option(False, "--from-noise", help="Encode uniform-noise images and decode them (the thesis' check)."),
    reconstruct: bool = typer.Option(False, "--reconstruct", help="Rows input | reconstruction of --n crops of --data."),
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="Prepared dataset for --reconstruct."),
    split: str = typer.Option("test", "--split", help="--reconstruct: split to draw crops from (all: every split)."),
    interpolate: Optional[Tuple[Path, Path]] = typer.Option(
        None, "--interpolate", help="Two faces A B (aligned or prepared crops, or photos): decode the line from mu(A) to mu(B)."),
    steps: int = typer.Option(8, "--steps", min=2, help="--interpolate: faces along the line, A and B included."),
    align: Optional[bool] = typer.Option(
        None, "--align/--no-align", help="--interpolate: detect and align the faces (default: only non-square images)."),
) -> None:
    """Faces from the latent space: samples from N(0, I) (default), --from-noise, --reconstruct or --interpolate."""
    import torch

    from facexpr.io import write_image_atomic
    from facexpr.models.base import SamplingModel
    from facexpr.models.vae.latent import grid, load_face, pick_records, sample_from_noise, sample_prior, to_uint8
    from facexpr.viz import contact_sheet

    if from_noise + reconstruct + (interpolate is not None) > 1:
        raise BadInputError(out, "choose one of --from-noise, --reconstruct and --interpolate")
    if reconstruct != (data is not None):
        raise BadInputError(data or out, "--reconstruct and --data go together")
    space = _space(model)
    cell = max(64, space.size)
    if reconstruct:
        prepared, records = _records(data, split)
        chosen = pick_records(records, n, seed)
        inputs = torch.stack([space.load_crop(prepared, r) for r in chosen])
        rows = [list(pair) for pair in zip(to_uint8(inputs), to_uint8(space.reconstruct(inputs)))]
        labels = [f"{r.subject} {r.expression}" for r in chosen]
        sheet = contact_sheet(rows, labels, ("input", "reconstruction"), cell_size=cell)
    elif interpolate is not None:
        faces = [load_face(path, space.size, space.channels, align) for path in interpolate]
        line = space.interpolate(faces[0], faces[1], steps)
        ends = to_uint8(torch.stack(faces))
        columns = ["A", *(f"{t / (steps - 1):.2f}" for t in range(steps)), "B"]
        sheet = contact_sheet([[ends[0], *to_uint8(line), ends[1]]], column_labels=columns, cell_size=cell)
    else:
        if not isinstance(space.model, SamplingModel):
            raise BadInputError(model, f"this model cannot sample faces: its latent space has no prior "
                                       f"(family {space.model.family}); use a stage-1 vae model")
        faces = (sample_from_noise if from_noise else sample_prior)(space.model, n, seed)
        sheet = grid(faces, cell_size=cell)
    write_image_atomic(out, sheet)
    console.print(f"[green]wrote {out}[/green] ({space.model.name})")


@friendly_errors
def tsne_command(
    model: Path = MODEL,
    data: Path = typer.Option(..., "--data", "-d", help="A prepared dataset folder."),
    out: Path = typer.Option(..., "--out", "-o", help="The t-SNE map (PNG)."),
    split: str = typer.Option("all", "--split", help="Split to embed (all: every split)."),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="The 2-D coordinates (default: OUT with .csv)."),
    perplexity: float = typer.Option(30.0, "--perplexity", min=1.0, help="t-SNE perplexity (clipped to crops - 1)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of t-SNE."),
) -> None:
    """Latent means of every crop embedded with t-SNE, drawn with face thumbnails framed by expression."""
    from facexpr.models.vae.latent import write_tsne

    space = _space(model)
    prepared, records = _records(data, split)
    if len(records) < 2:
        raise BadInputError(data, f"t-SNE needs at least 2 crops, split {split!r} has {len(records)}")
    csv_path = csv_path or out.with_suffix(".csv")
    with progress_bar("encode") as progress:
        write_tsne(space, prepared, records, out, csv_path, perplexity, seed, progress)
    console.print(f"[green]wrote {out} and {csv_path}[/green] ({len(records)} crops, {space.model.name})")
