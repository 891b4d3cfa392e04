"""How a geometric model is fitted from prepared folders: landmark pairs of the same person, then warped pairs.

:func:`fit_geometric` reads every crop of the chosen split of one or more
prepared datasets (``--data`` may repeat), finds each crop's landmarks the way
the model will at use, skips crops whose landmarks are implausible (with the
reason), and fits

1. the neutral shape map on expressive -> neutral pairs of one person (and,
   with ``neutral_pairs``, neutral -> neutral reference, so neutral stays put);
2. a ``neutral -> E`` shape map for every other expression E the data has;
3. per target, the appearance step on the model's own warped inputs and their
   targets;
4. per target, the judge-guided refiner on the model's outputs so far
   (:mod:`facexpr.training.geometric_refine`; ``refine_steps`` 0: none).

The shape maps' ridge penalty and soft threshold are chosen by subject-level
cross-validation (:func:`choose_alpha_and_threshold`: folds never split a person) unless given.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np
import torch
from sklearn.model_selection import GroupKFold

from facexpr.data.pairing import PreparedDataset, expression_pairs, stay_neutral_pairs
from facexpr.data.records import FaceRecord
from facexpr.io import BadInputError
from facexpr.judges.geometry import landmark_error
from facexpr.models.base import resize_to
from facexpr.models.geometric.appearance import Appearance
from facexpr.models.geometric.model import GeometricModel, GeometricOptions, crop_shapes
from facexpr.models.geometric.refiner import Refiner, refinable
from facexpr.models.geometric.shape import fit_shape_map, soft_threshold, to_pixels
from facexpr.models.geometric.warp import tps_warp
from facexpr.training.geometric_refine import fit_refiner

#: Ridge penalties tried by :func:`choose_alpha_and_threshold`.
ALPHA_GRID = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 0.3, 1.0)
#: Soft thresholds (inter-ocular units) tried by :func:`choose_alpha_and_threshold`; 0 is none.
THRESHOLD_GRID = (0.0, 0.005, 0.01, 0.015, 0.02, 0.03)
#: Folds of the subject-level cross-validation (fewer when there are fewer people).
FOLDS = 5

Progress = Callable[[int, int, str], None]


@dataclass
class Crops:
    """Every usable crop of the training data: images, landmark shapes, records and their person keys."""

    images: torch.Tensor
    shapes: torch.Tensor
    records: list[FaceRecord]
    people: list[tuple[str, str, str]]
    skipped: list[str] = field(default_factory=list)

    def index(self) -> dict[int, int]:
        """id(record) -> row."""
        return {id(record): row for row, record in enumerate(self.records)}


def _with_channels(crop: torch.Tensor, channels: int) -> torch.Tensor:
    """A (C, S, S) crop as grey (1) or RGB (3): grey is replicated, RGB averaged."""
    if crop.shape[0] == channels:
        return crop
    return crop.expand(channels, -1, -1) if channels == 3 else crop.mean(0, keepdim=True)


def is_grey(crops: torch.Tensor) -> torch.Tensor:
    """Per crop (B, C, S, S), whether it is grey: one channel, or three equal ones (a grey photo in RGB data)."""
    if crops.shape[1] == 1:
        return torch.ones(len(crops), dtype=torch.bool)
    return (crops[:, :1] == crops[:, 1:]).flatten(1).all(1)


def _splits(datasets: Sequence[PreparedDataset], split: str | None | Sequence[str | None]) -> list[str | None]:
    """One split per dataset: the same for all, or one each."""
    if split is None or isinstance(split, str):
        return [split] * len(datasets)
    if len(split) != len(datasets):
        raise ValueError(f"{len(split)} splits for {len(datasets)} datasets")
    return list(split)


def load_crops(datasets: Sequence[PreparedDataset], split: str | None | Sequence[str | None], size: int,
               channels: int, progress: Progress | None = None) -> Crops:
    """The split's crops of every dataset (``split`` may name one per dataset) at ``size`` and ``channels``,
    with their shapes; crops whose landmarks cannot be used are skipped with the reason."""
    images, records, people = [], [], []
    for dataset, chosen in zip(datasets, _splits(datasets, split)):
        for record in dataset.select(chosen):
            crop = resize_to(dataset.load(record), size)
            images.append(_with_channels(crop, channels))
            records.append(record)
            people.append((str(dataset.root), *record.key()))
    if not records:
        raise BadInputError(datasets[0].manifest_path, f"no crop in split(s) {split or 'all'!r}")
    stacked = torch.stack(images)
    shapes, reasons = [], []
    for start in range(0, len(stacked), 64):
        found, why = crop_shapes(stacked[start:start + 64])
        shapes.append(found)
        reasons += why
        if progress:
            progress(min(start + 64, len(stacked)), len(stacked), "landmarks")
    keep = [i for i, reason in enumerate(reasons) if reason is None]
    skipped = [f"{records[i].path}: {reasons[i]}" for i in range(len(records)) if reasons[i] is not None]
    return Crops(stacked[keep], torch.cat(shapes)[keep], [records[i] for i in keep], [people[i] for i in keep], skipped)


def training_pairs(crops: Crops, target: str, neutral_pairs: bool) -> list[tuple[int, int]]:
    """(source row, target row) pairs of one person for the ``target`` map (see the module docstring)."""
    rows = crops.index()
    by_dataset: dict[str, list[FaceRecord]] = {}
    for record, person in zip(crops.records, crops.people):
        by_dataset.setdefault(person[0], []).append(record)
    pairs: list[tuple[int, int]] = []
    for records in by_dataset.values():
        pairs += [(rows[id(s)], rows[id(t)]) for s, t in expression_pairs(records, None, target).pairs]
        if target == "neutral" and neutral_pairs:
            pairs += [(rows[id(s)], rows[id(t)]) for s, t in stay_neutral_pairs(records)]
    return pairs


def choose_alpha_and_threshold(sources: torch.Tensor, targets: torch.Tensor, groups: Sequence, components: int | None,
                 grid: Sequence[float] = ALPHA_GRID, thresholds: Sequence[float] = THRESHOLD_GRID,
                 ) -> tuple[float, float, dict[str, dict[str, float]]]:
    """The ridge penalty and soft threshold (:class:`~facexpr.models.geometric.shape.ShapeMap`) with the lowest
    subject-level cross-validated landmark error, and every tried pair's error (``{alpha: {threshold: error}}``).

    The error is the mean over every held-out pair, so the neutral -> neutral
    pairs weigh in: a threshold pays off when it keeps neutral faces in place
    without losing the expressive ones. Folds never split a person
    (``groups``); with fewer than two people the middle of the grid and no
    threshold are returned untried.
    """
    people = sorted(set(groups))
    if len(people) < 2:
        return grid[len(grid) // 2], 0.0, {}
    codes = np.array([people.index(g) for g in groups])
    folds = GroupKFold(n_splits=min(FOLDS, len(people)))
    totals = np.zeros((len(grid), len(thresholds)))
    for train, test in folds.split(codes, groups=codes):
        for i, alpha in enumerate(grid):
            shape_map = fit_shape_map(sources[train], targets[train], alpha, components)
            linear = shape_map.linear_displacement(sources[test])
            for j, threshold in enumerate(thresholds):
                moved = sources[test] + soft_threshold(sources[test], linear, threshold)
                totals[i, j] += float(np.sum(landmark_error(moved.numpy(), targets[test].numpy())))
    errors = totals / len(codes)
    best = np.unravel_index(np.argmin(errors), errors.shape)
    table = {f"{a:g}": {f"{t:g}": float(errors[i, j]) for j, t in enumerate(thresholds)} for i, a in enumerate(grid)}
    return grid[best[0]], thresholds[best[1]], table


def fit_geometric(
    datasets: Sequence[PreparedDataset],
    split: str | None | Sequence[str | None] = "train",
    options: GeometricOptions | None = None,
    size: int | None = None,
    channels: int | None = None,
    cross_validate: bool = True,
    progress: Progress | None = None,
) -> GeometricModel:
    """Fit a geometric model on same-person pairs of the datasets' split (None: every split; or one per dataset).

    ``size`` and ``channels`` default to the first dataset's crops (RGB if any
    dataset is RGB). With ``cross_validate`` the shape maps' ``alpha`` and
    soft threshold are chosen by :func:`choose_alpha_and_threshold` (per target); otherwise
    ``options.alpha`` and ``options.shape_threshold``.

    Raises:
        BadInputError: no usable crop or no neutral pair, or an invalid option.
    """
    options = options or GeometricOptions()
    try:
        options.check()
    except ValueError as error:
        raise BadInputError(datasets[0].root, str(error)) from None
    first = datasets[0].load(datasets[0].records[0])
    size = size or first.shape[-1]
    channels = channels or max(d.load(d.records[0]).shape[0] for d in datasets)
    crops = load_crops(datasets, split, size, channels, progress)
    targets = ["neutral", *sorted({r.expression for r in crops.records} - {"neutral"})]
    shape_maps, chosen, thresholds, cv_errors, pairs_of = {}, {}, {}, {}, {}
    for target in targets:
        pairs = training_pairs(crops, target, options.neutral_pairs)
        if not pairs:
            if target == "neutral":
                raise BadInputError(datasets[0].manifest_path,
                                    "no person with both an expressive (or neutral) and a neutral usable crop")
            continue
        sources, goals = (crops.shapes[[p[i] for p in pairs]] for i in (0, 1))
        alpha, threshold = options.alpha, options.shape_threshold
        if cross_validate:
            alpha, threshold, cv_errors[target] = choose_alpha_and_threshold(sources, goals, [crops.people[s] for s, _ in pairs],
                                                               options.components)
        shape_maps[target] = replace(fit_shape_map(sources, goals, alpha, options.components), threshold=threshold)
        chosen[target], thresholds[target], pairs_of[target] = alpha, threshold, pairs
    model = GeometricModel(size, channels, shape_maps, {},
                           replace(options, alpha=chosen["neutral"], shape_threshold=thresholds["neutral"]))
    if options.appearance:
        sigma = options.smoothing * size / 128.0
        for target, pairs in pairs_of.items():
            sources = torch.tensor([s for s, _ in pairs])
            goal = to_pixels(model.target_shapes(crops.shapes[sources], target, 1.0), size)
            warped, _ = tps_warp(crops.images[sources], to_pixels(crops.shapes[sources], size), goal)
            targets_images = crops.images[torch.tensor([t for _, t in pairs])]
            luma = bool(is_grey(crops.images[sources]).any() or is_grey(targets_images).any())
            model.appearance[target] = Appearance.fit(warped, targets_images, options.appearance_lambda, sigma, target,
                                                      luma)
    refined = options.refine_steps > 0 and refinable(size)
    if refined:
        for target, pairs in pairs_of.items():
            model.refiners[target] = _refiner(model, crops, pairs, target, options, progress)
    model.training = {
        "data": [str(d.root) for d in datasets],
        "split": [s or "all" for s in _splits(datasets, split)],
        "crops": len(crops.records),
        "people": len(set(crops.people)),
        "pairs": {target: len(pairs) for target, pairs in pairs_of.items()},
        "alpha": dict(chosen),
        "shape_threshold": dict(thresholds),
        "cross_validation": {t: e for t, e in cv_errors.items() if e},
        "skipped": crops.skipped,
        "refiner": "trained" if refined else f"none (steps {options.refine_steps}, crop size {size})",
    }
    return model


def _refiner(model: GeometricModel, crops: Crops, pairs: list[tuple[int, int]], target: str,
             options: GeometricOptions, progress: Progress | None) -> Refiner:
    """The refiner of ``target``, trained on the model's outputs for the pairs' sources (see
    :mod:`facexpr.training.geometric_refine`)."""
    sources = torch.tensor([s for s, _ in pairs])
    explained = model.explain(crops.images[sources].unsqueeze(1), target, 1.0, to_pixels(crops.shapes[sources], model.size))
    return fit_refiner(explained["output"], explained["refine_mask"], explained["gate"], crops.images[torch.tensor([t for _, t in pairs])],
                       options.refine_steps, options.refine_judge, options.refine_smoothing * model.size / 128.0,
                       options.refine_ssim, progress=progress)

