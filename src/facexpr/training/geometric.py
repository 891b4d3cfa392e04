"""``facexpr train geometric``: the geometric model fitted from prepared folders (closed form, seconds)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from facexpr.io import BadInputError
from facexpr.models.geometric import GeometricOptions
from facexpr.training.data import DataSource, open_prepared
from facexpr.training.geometric_fit import fit_geometric
from facexpr.training.methods import register_method
from facexpr.training.trainer import TrainResult

#: ``--split all``: every crop of every folder.
ALL_SPLITS = "all"


@dataclass(frozen=True)
class GeometricRun:
    """How the fit runs.

    Attributes:
        size: crop size of the model (default: the first dataset's).
        cross_validate: choose the shape maps' alpha and soft threshold by subject-level 5-fold
            cross-validation (--no-cross-validate: use --alpha and --shape-threshold).
    """

    size: int | None = None
    cross_validate: bool = True


@register_method("geometric", options=GeometricOptions, run=GeometricRun)
def train_geometric(data: Sequence[DataSource], out: str | Path, split: str, options: GeometricOptions,
                    run: GeometricRun, progress: Callable[[int, int, str], None] | None = None) -> TrainResult:
    """Fit the geometric model: where the landmarks go, a warp there, and a masked appearance correction.

    It learns neutralization from every expressive -> neutral pair of one
    person and synthesis of every expression the data has (neutral ->
    expression); ``--split all`` uses every crop.

    Raises:
        BadInputError: unreadable folders, a split a folder lacks, an option out of range.
    """
    out = Path(out)
    datasets = [open_prepared(folder) for folder in data]
    chosen = None if split == ALL_SPLITS else split
    for dataset in datasets:
        if chosen is not None and chosen not in dataset.splits:
            raise BadInputError(dataset.manifest_path, f"no split {split!r} (present: {', '.join(dataset.splits)})")
    if run.size is not None and not 8 <= run.size <= 1024:
        raise BadInputError(out, f"--size must be between 8 and 1024, not {run.size}")
    try:
        options.check()
    except ValueError as error:
        raise BadInputError(out, str(error)) from None
    began = time.perf_counter()
    model = fit_geometric(datasets, chosen, options, size=run.size, cross_validate=run.cross_validate,
                          progress=progress)
    model.training["seconds"] = round(time.perf_counter() - began, 3)
    model.save(out)
    return TrainResult(out, model, model.training)
