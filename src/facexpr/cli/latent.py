"""``facexpr sample`` and ``facexpr tsne``: look into a trained model's latent space."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import typer

from facexpr.cli.common import console, friendly_errors, progress_bar
from facexpr.io import BadInputError

#: Faces along the --interpolate line when --steps is not given.
INTERPOLATE_STEPS = 8


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


def _write_traversals(model_dir: Path, expression: str, faces: List[Path], steps: Optional[int],
                      align: Optional[bool], out: Path) -> list[Path]:
    """Per face (n from 1), OUT/<n>_<stem>_<expression>.png, the strip from the attribute's training minimum to
    its maximum, and ..._opposite.png, from the face's own value to minus the maximum, each after the input face
    and headed by the attribute's values; returns the paths written."""
    import torch

    from facexpr.io import write_image_atomic
    from facexpr.models import MODEL_FAMILIES, load_model
    from facexpr.models.emotion.traverse import DEFAULT_STEPS, Traversable
    from facexpr.models.vae.latent import load_face, to_uint8
    from facexpr.viz import contact_sheet

    model = load_model(model_dir)
    if not isinstance(model, Traversable):
        families = ", ".join(sorted(f for f, cls in MODEL_FAMILIES.items() if issubclass(cls, Traversable)))
        raise BadInputError(model_dir, f"this model has no expression attribute to traverse (family {model.family}); "
                                       f"--traverse takes {families} models")
    try:
        model.traversal_axis(expression)
    except ValueError as error:
        raise BadInputError(model_dir, str(error)) from None
    if not faces:
        raise BadInputError(out, "--traverse needs FACES (aligned or prepared crops, or photos)")
    crops = torch.stack([load_face(path, model.size, model.channels, align) for path in faces])
    traversal = model.traverse(crops.to(model.device), expression, steps or DEFAULT_STEPS)
    cell = max(64, model.size)
    written = []
    for n, (path, crop) in enumerate(zip(faces, to_uint8(crops)), 1):
        for suffix, values, strip in (("", traversal.values, traversal.faces),
                                      ("_opposite", traversal.opposite_values, traversal.opposite)):
            columns = ["input", *(f"{v:.2f}" for v in values[n - 1].tolist())]
            sheet = contact_sheet([[crop, *to_uint8(strip[n - 1].cpu())]], column_labels=columns, cell_size=cell)
            written.append(out / f"{n}_{path.stem}_{traversal.expression}{suffix}.png")
            write_image_atomic(written[-1], sheet)
    return written


@friendly_errors
def sample_command(
    model: Path = typer.Option(..., "--model", "-m", help="A trained vae or neutralizer model folder (--traverse: "
                                                          "fader or ssvae)."),
    out: Path = typer.Option(..., "--out", "-o", help="The PNG grid to write (--traverse: the folder of strips)."),
    faces: Optional[List[Path]] = typer.Argument(
        None, metavar="FACES", show_default=False,
        help="--traverse: the faces (aligned or prepared crops, or photos)."),
    n: int = typer.Option(16, "--n", "-n", min=1, help="Faces to sample (or crops to reconstruct)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the latents, noise images or chosen crops."),
    from_noise: bool = typer.Option(False, "--from-noise", help="Encode uniform-noise images and decode them (the thesis' check)."),
    reconstruct: bool = typer.Option(False, "--reconstruct", help="Rows input | reconstruction of --n crops of --data."),
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="Prepared dataset for --reconstruct."),
    split: str = typer.Option("test", "--split", help="--reconstruct: split to draw crops from (all: every split)."),
    interpolate: Optional[Tuple[Path, Path]] = typer.Option(
        None, "--interpolate", help="Two faces A B (aligned or prepared crops, or photos): decode the line from mu(A) to mu(B)."),
    traverse: Optional[str] = typer.Option(
        None, "--traverse", help="An expression (fader, ssvae): per face of FACES, strips of its attribute from the "
                                 "minimum to the maximum seen in training, and from the face's own value to minus "
                                 "that maximum (the opposite direction), the rest of the face kept."),
    steps: Optional[int] = typer.Option(
        None, "--steps", min=2, help=f"Faces along the --interpolate line (A and B included; default "
                                     f"{INTERPOLATE_STEPS}) or each --traverse strip (default 6, the paper's)."),
    align: Optional[bool] = typer.Option(
        None, "--align/--no-align",
        help="--interpolate, --traverse: detect and align the faces (default: only non-square images)."),
) -> None:
    """Faces from the latent space: samples from N(0, I) (default), --from-noise, --reconstruct, --interpolate
    or --traverse (the paper's expression strips)."""
    import torch

    from facexpr.io import write_image_atomic
    from facexpr.models.base import SamplingModel
    from facexpr.models.vae.latent import (
        grid,
        load_face,
        pick_records,
        sample_from_noise,
        sample_prior,
        to_uint8,
    )
    from facexpr.viz import contact_sheet

    if from_noise + reconstruct + (interpolate is not None) + (traverse is not None) > 1:
        raise BadInputError(out, "choose one of --from-noise, --reconstruct, --interpolate and --traverse")
    if reconstruct != (data is not None):
        raise BadInputError(data or out, "--reconstruct and --data go together")
    if faces and traverse is None:
        raise BadInputError(faces[0], "FACES go with --traverse (--interpolate takes its two faces itself)")
    if traverse is not None:
        written = _write_traversals(model, traverse, faces or [], steps, align, out)
        console.print(f"[green]wrote {len(written)} strips into {out}[/green]")
        return
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
        pair = [load_face(path, space.size, space.channels, align) for path in interpolate]
        steps = steps or INTERPOLATE_STEPS
        line = space.interpolate(pair[0], pair[1], steps)
        ends = to_uint8(torch.stack(pair))
        columns = ["A", *(f"{t / (steps - 1):.2f}" for t in range(steps)), "B"]
        sheet = contact_sheet([[ends[0], *to_uint8(line), ends[1]]], column_labels=columns, cell_size=cell)
    else:
        if not isinstance(space.model, SamplingModel):
            raise BadInputError(model, f"this model cannot sample faces: its latent space has no prior "
                                       f"(family {space.model.family}); use a stage-1 vae model")
        sampled = (sample_from_noise if from_noise else sample_prior)(space.model, n, seed)
        sheet = grid(sampled, cell_size=cell)
    write_image_atomic(out, sheet)
    console.print(f"[green]wrote {out}[/green] ({space.model.name})")


def _features(model_dir: Path, axes: bool):
    """What ``facexpr tsne`` reads of the model folder's crops: its expression axes (``axes``), else its latent
    means or feature layer (one-line error for models without)."""
    from facexpr.models.vae.latent import AxisFeatures, crop_features, load_any_model

    model = load_any_model(model_dir)
    try:
        return AxisFeatures(model) if axes else crop_features(model)
    except ValueError as error:
        raise BadInputError(model_dir, str(error)) from None


@friendly_errors
def tsne_command(
    model: Path = typer.Option(..., "--model", "-m", help="A trained model folder with a latent space (vae, "
                                                          "neutralizer, ...) or a feature layer (expression-cnn); "
                                                          "--axes: fader or ssvae."),
    data: Path = typer.Option(..., "--data", "-d", help="A prepared dataset folder."),
    out: Path = typer.Option(..., "--out", "-o", help="The t-SNE map (PNG; --axes: the distribution plot)."),
    split: str = typer.Option("all", "--split", help="Split to embed (all: every split)."),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="The 2-D coordinates (--axes: each crop's value on "
                                                                "every axis); default: OUT with .csv."),
    perplexity: float = typer.Option(30.0, "--perplexity", min=1.0, help="t-SNE perplexity (clipped to crops - 1)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of t-SNE."),
    axes: bool = typer.Option(False, "--axes", help="Instead of t-SNE, the paper's Fig. 7/10: the crops' values on "
                                                    "each expression's latent axis (ssvae: its class axes; fader: "
                                                    "its attributes), one panel per axis with a box per true "
                                                    "expression, and the medians."),
) -> None:
    """A model's view of every crop in 2-D: the t-SNE map of its latent means (latent models) or F100 features
    (expression-cnn), drawn with face thumbnails framed by expression; with --axes, the distribution of the
    crops along each expression's latent axis (ssvae, fader) by true expression."""
    from facexpr.models.vae.latent import write_axis_distribution, write_tsne

    features = _features(model, axes)
    prepared, records = _records(data, split)
    csv_path = csv_path or out.with_suffix(".csv")
    if axes:
        with progress_bar("encode") as progress:
            write_axis_distribution(features, [(prepared, records)], out, csv_path, f"split {split}", progress)
        console.print(f"[green]wrote {out} and {csv_path}[/green] ({len(records)} crops on "
                      f"{len(features.axes)} axes, {features.name})")
        return
    if len(records) < 2:
        raise BadInputError(data, f"t-SNE needs at least 2 crops, split {split!r} has {len(records)}")
    with progress_bar("encode") as progress:
        write_tsne(features, prepared, records, out, csv_path, perplexity, seed, progress)
    console.print(f"[green]wrote {out} and {csv_path}[/green] ({len(records)} crops, {features.kind} of "
                  f"{features.name})")
