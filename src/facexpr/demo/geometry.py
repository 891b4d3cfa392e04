"""The demo's comparison: the geometric model beside masked regression, the VAE neutralizer and the truth.

On one prepared dataset (the synthetic people, and the Face Research Lab London
photos where ``../shared/data`` is present) the geometric model and masked
regression (happy -> neutral) are fitted on the train split, then
``facexpr compare`` scores them beside ``identity`` and ``mean-neutral`` on the
test split's smiling faces at 128 px. ``comparison.png`` shows, per held-out
person: the input, the landmarks the model found (green) and where it moves
them (red), how far the warp moved each pixel, then geometric | masked
regression | VAE neutralizer | true neutral. People look rather than read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from facexpr.data.pairing import PreparedDataset
from facexpr.evaluation import compare
from facexpr.evaluation.scoring import Judges
from facexpr.io import from_uint8, load_image, to_uint8, write_image_atomic
from facexpr.models import FaceModel, load_model
from facexpr.models.base import CONFIG_FILE, resize_to
from facexpr.models.geometric import GeometricModel
from facexpr.models.masked_regression import MaskedRegression
from facexpr.training.geometric_fit import fit_geometric
from facexpr.viz import contact_sheet, displacement_map, draw_landmark_moves

COLUMNS = ("input", "landmarks moved", "warp", "geometric", "masked regr.",
           "VAE (64 px)", "true neutral")
#: Displacement (pixels at 128 px) shown at full colour in the warp column.
WARP_COLOUR_PIXELS = 4.0
#: Held-out people shown in the grid (all are scored).
GRID_ROWS = 8


@dataclass
class Comparison:
    """One dataset's comparison: the compare document (metrics per model) and the grid picture."""

    title: str
    document: dict[str, Any]
    grid: Path


def _fitted(folder: Path, fit: Callable[[], FaceModel]) -> FaceModel:
    """The model saved in ``folder``, or ``fit()`` saved there (reruns reuse it)."""
    if (folder / CONFIG_FILE).is_file():
        return load_model(folder)
    model = fit()
    model.save(folder)
    return model


def compare_on(
    title: str,
    prepared_dir: Path,
    vae_dir: Path,
    out_dir: Path,
    judges: Judges | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> Comparison:
    """Fit (or reuse) the geometric and masked-regression models in ``out_dir/models``, compare them on the test
    split's smiling faces, and draw ``out_dir/comparison.png`` (see the module docstring)."""
    prepared = PreparedDataset(prepared_dir, cache_size=None)
    geometric = _fitted(out_dir / "models" / "geometric", lambda: fit_geometric([prepared], "train"))
    _fitted(out_dir / "models" / "masked-regression", lambda: MaskedRegression.fit(prepared, "train", "happy", "neutral"))
    specs = [str(out_dir / "models" / "masked-regression"), str(out_dir / "models" / "geometric"), "identity",
             "mean-neutral"]
    result = compare(specs, prepared_dir, "test", out_dir / "comparison", judges=judges, progress=progress)
    assert isinstance(geometric, GeometricModel)
    vae = load_model(vae_dir)
    pairs = out_dir / "comparison" / "pairs"
    rows, labels = [], []
    for item in result.items[:GRID_ROWS]:
        crop = load_image(pairs / "input" / f"{item.name}.png")
        explained = geometric.explain(from_uint8([crop]).unsqueeze(0))
        found, goal = explained["landmarks"][0, 0].numpy(), explained["goal"][0].numpy()
        with torch.no_grad():
            vae_output = vae.predict(resize_to(from_uint8([crop]).unsqueeze(0), vae.size))[0]
        rows.append([
            crop,
            draw_landmark_moves(crop, found, goal),
            displacement_map(crop, explained["travel"][0].numpy() * 128 / crop.shape[0], WARP_COLOUR_PIXELS),
            load_image(pairs / "output-1" / f"{item.name}.png"),
            load_image(pairs / "output-0" / f"{item.name}.png"),
            to_uint8(vae_output),
            load_image(pairs / "target" / f"{item.name}.png"),
        ])
        labels.append(item.target.subject)
    grid = out_dir / "comparison.png"
    write_image_atomic(grid, contact_sheet(rows, labels, COLUMNS, cell_size=128))
    return Comparison(title, result.document, grid)
