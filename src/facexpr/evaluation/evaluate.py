"""``facexpr evaluate`` and ``facexpr compare``: every model measured the same way, next to the baselines.

For a model and a prepared split it builds the evaluation items (expressive
photo(s) -> the subject's neutral face, or neutral -> target expression for
synthesis models), runs the model, writes input/output/target crops under the
same NAME, scores them with every judge and writes ``metrics.json``,
``items.csv`` and an HTML/Markdown report. A neutralizer is also run on each
person's neutral face, which it should leave alone (``neutral_inputs`` in
``metrics.json``, see :mod:`facexpr.evaluation.stability`). A conditional model
(one model, several target expressions) is also asked for every target on the
split's neutral photos (``conditional`` in ``metrics.json``, see
:mod:`facexpr.evaluation.conditional`). The ``identity`` and ``mean-*``
baselines run on the same items, so the failure modes they stand for (the
identity function, an average face) are always in view.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from facexpr.data.pairing import PreparedDataset
from facexpr.evaluation.conditional import conditional_run, is_conditional
from facexpr.evaluation.items import EvalItem, evaluation_items, predict_held_out
from facexpr.evaluation.report import write_report
from facexpr.evaluation.scoring import METRICS, Judges, Scorer
from facexpr.evaluation.stability import neutral_stability
from facexpr.io import (
    BadInputError,
    as_channels,
    from_uint8,
    to_uint8,
    write_image_atomic,
    write_text_atomic,
)
from facexpr.metrics import finite_or_string
from facexpr.models import FaceModel, IdentityModel, MeanFaceModel, load_model
from facexpr.models.base import resize_to

Progress = Callable[[int, int, str], None]


@dataclass
class ModelRun:
    """One model's outputs on the items and their scores."""

    name: str
    outputs: np.ndarray
    seconds_per_face: float
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, float] = field(default_factory=dict)


def resolve_model(spec: str, prepared: PreparedDataset, split: str, size: int | None = None) -> FaceModel:
    """``identity``, ``mean-neutral`` / ``mean-<expression>`` (at ``size``, default the data's), or a model directory."""
    if spec == "identity":
        return IdentityModel.fit(prepared, size=size)
    if spec.startswith("mean-") and not Path(spec).exists():
        return MeanFaceModel.fit(prepared, split, expression=spec.removeprefix("mean-"), size=size)
    return load_model(spec)


def in_colour_of(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """uint8 outputs (B, H, W[, 3]) in the targets' colour: the baselines run at the data's channels, a grey
    model's targets are grey (and a colour model's outputs on grey data are scored in colour)."""
    if outputs.ndim == targets.ndim:
        return outputs
    return to_uint8(as_channels(from_uint8(outputs), 1 if targets.ndim == 3 else 3))


def _load(prepared: PreparedDataset, records: Sequence, size: int, channels: int) -> torch.Tensor:
    """Crops of ``records`` as one (B, C, size, size) batch matching the model."""
    return as_channels(resize_to(torch.stack([prepared.load(r) for r in records]), size), channels)


def run_model(
    model: FaceModel,
    prepared: PreparedDataset,
    items: Sequence[EvalItem],
    batch_size: int = 64,
    progress: Progress | None = None,
) -> tuple[np.ndarray, float]:
    """Run ``model`` on every item; returns uint8 outputs and model seconds per face (excluding I/O).

    Each item gets up to ``model.max_inputs`` of its photos. Items are batched
    with others that give the same number of photos, so an item's output never
    depends on the batch size or on which people share its batch. A model fitted
    on the held-out people themselves leaves each item's person out
    (:func:`~facexpr.evaluation.items.predict_held_out`).
    """
    outputs: dict[int, np.ndarray] = {}
    seconds = 0.0
    by_count: dict[int, list[int]] = {}
    for index, item in enumerate(items):
        by_count.setdefault(min(model.max_inputs, len(item.inputs)), []).append(index)
    done = 0
    for shots, indices in sorted(by_count.items()):
        for start in range(0, len(indices), batch_size):
            chosen = indices[start:start + batch_size]
            batch = [items[i] for i in chosen]
            inputs = torch.stack([_load(prepared, item.inputs[:shots], model.size, model.channels) for item in batch])
            began = time.perf_counter()
            predicted = predict_held_out(model, inputs, [item.key for item in batch])
            seconds += time.perf_counter() - began
            outputs.update(zip(chosen, to_uint8(predicted)))
            done += len(chosen)
            if progress:
                progress(done, len(items), model.name)
    return np.stack([outputs[i] for i in range(len(items))]), seconds / max(1, len(items))


def _items_csv(items: Sequence[EvalItem], run: ModelRun) -> str:
    """The per-item rows of one run as CSV text."""
    buffer = io.StringIO()
    names = list(run.rows[0]) if run.rows else []
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "subject", "inputs", "target", *names])
    for item, row in zip(items, run.rows):
        cells = [row[n] if isinstance(row[n], str) else f"{row[n]:.6g}" for n in names]
        writer.writerow([item.name, item.target.subject, " ".join(r.path for r in item.inputs), item.target.path, *cells])
    return buffer.getvalue()


def _metrics_document(run: ModelRun, data: Path, split: str, n: int, baselines: Sequence[ModelRun]) -> dict[str, Any]:
    """The metrics.json content: strict JSON, so inf and NaN are written as the strings "inf" and "nan"."""
    return {
        "model": run.name,
        "data": str(data),
        "split": split,
        "n": n,
        "metrics": {k: finite_or_string(run.summary[k]) for k in METRICS},
        "seconds_per_face": run.seconds_per_face,
        "baselines": {
            b.name: {"metrics": {k: finite_or_string(b.summary[k]) for k in METRICS}, "seconds_per_face": b.seconds_per_face}
            for b in baselines
        },
    }


def _write_pairs(out: Path, items: Sequence[EvalItem], inputs: np.ndarray, outputs: np.ndarray, targets: np.ndarray) -> None:
    """OUT/pairs/{input,output,target}/NAME.png, the same NAME in the three folders."""
    for item, x, y, t in zip(items, inputs, outputs, targets):
        write_image_atomic(out / "pairs" / "input" / f"{item.name}.png", x)
        write_image_atomic(out / "pairs" / "output" / f"{item.name}.png", y)
        write_image_atomic(out / "pairs" / "target" / f"{item.name}.png", t)


def _baseline_specs(model: FaceModel, spec: str) -> list[str]:
    """The baselines to run beside ``model`` (not itself)."""
    return [b for b in ("identity", f"mean-{model.target_expression}") if b != spec and b != model.name]


@dataclass
class Evaluation:
    """Everything :func:`evaluate` produced."""

    out_dir: Path
    items: list[EvalItem]
    runs: list[ModelRun]
    document: dict[str, Any]


def evaluate(
    model_spec: str,
    data: str | Path,
    split: str = "test",
    out: str | Path = "evaluation",
    batch_size: int = 64,
    judges: Judges | None = None,
    progress: Progress | None = None,
    shots: int | None = None,
) -> Evaluation:
    """Evaluate one model (and the baselines) on a prepared dataset split; see the module docstring.

    ``shots`` overrides how many photos of a person the model gets together
    (default: its ``max_inputs``); with more than one, each person is one item.

    Raises:
        BadInputError: the data, split or model cannot be used.
    """
    data, out = Path(data), Path(out)
    prepared = _open(data, split)
    models = [resolve_model(model_spec, prepared, split)]
    if shots is not None:
        if shots < 1:
            raise BadInputError(Path(model_spec), f"shots must be at least 1, not {shots}")
        models[0].max_inputs = shots
    models += [resolve_model(b, prepared, split, models[0].size) for b in _baseline_specs(models[0], model_spec)]
    items, targets, scorer = _prepare_items(prepared, split, models, judges)
    runs = [_run_and_score(m, prepared, items, scorer, batch_size, progress) for m in models]
    main = runs[0]
    inputs = to_uint8(_load(prepared, [i.inputs[0] for i in items], models[0].size, models[0].channels))
    _write_pairs(out, items, inputs, main.outputs, targets)
    document = _metrics_document(main, data, split, len(items), runs[1:])
    if models[0].task == "neutralize":
        stability = {m.name: neutral_stability(m, prepared, None if split == "all" else split, scorer.judges, batch_size)
                     for m in models}
        document["neutral_inputs"] = {name: {k: v if k == "n" else finite_or_string(v) for k, v in values.items()}
                                      for name, values in stability.items()}
    if is_conditional(models[0]) and prepared.select(split=None if split == "all" else split, expressions="neutral"):
        conditional = conditional_run(models[0], [(prepared, split)], scorer.judges, batch_size)
        document["conditional"] = conditional.document()
        write_image_atomic(out / "conditional.png", conditional.sheet)
    write_text_atomic(out / "metrics.json", json.dumps(document, indent=2))
    write_text_atomic(out / "items.csv", _items_csv(items, main))
    write_report(out, f"facexpr evaluate: {main.name}", data, split, items, runs, main_only_grid=True)
    return Evaluation(out, items, runs, document)


def compare(
    model_specs: Sequence[str],
    data: str | Path,
    split: str = "test",
    out: str | Path = "comparison",
    batch_size: int = 64,
    judges: Judges | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Several models on the same items: one table, one grid (input | each model | target)."""
    data, out = Path(data), Path(out)
    prepared = _open(data, split)
    models = [resolve_model(spec, prepared, split) for spec in model_specs]
    tasks = {(m.target_expression) for m in models}
    if len(tasks) != 1:
        raise BadInputError(data, f"models produce different expressions ({', '.join(sorted(tasks))}); compare like with like")
    items, targets, scorer = _prepare_items(prepared, split, models, judges)
    runs = [_run_and_score(m, prepared, items, scorer, batch_size, progress) for m in models]
    inputs = to_uint8(_load(prepared, [i.inputs[0] for i in items], models[0].size, models[0].channels))
    for item, x, t in zip(items, inputs, targets):
        write_image_atomic(out / "pairs" / "input" / f"{item.name}.png", x)
        write_image_atomic(out / "pairs" / "target" / f"{item.name}.png", t)
    for index, run in enumerate(runs):
        for item, y in zip(items, run.outputs):
            write_image_atomic(out / "pairs" / f"output-{index}" / f"{item.name}.png", y)
    document = {
        "data": str(data),
        "split": split,
        "n": len(items),
        "models": [
            {"model": r.name, "metrics": {k: finite_or_string(r.summary[k]) for k in METRICS}, "seconds_per_face": r.seconds_per_face}
            for r in runs
        ],
    }
    write_text_atomic(out / "metrics.json", json.dumps(document, indent=2))
    write_report(out, "facexpr compare", data, split, items, runs, main_only_grid=False)
    return Evaluation(out, items, runs, document)


def _open(data: Path, split: str) -> PreparedDataset:
    """The prepared dataset, after checking that it has ``split``."""
    prepared = PreparedDataset(data)
    if split != "all" and split not in prepared.splits:
        raise BadInputError(prepared.manifest_path, f"no split {split!r} (present: {', '.join(prepared.splits)})")
    return prepared


def _prepare_items(
    prepared: PreparedDataset, split: str, models: Sequence[FaceModel], judges: Judges | None
) -> tuple[list[EvalItem], np.ndarray, Scorer]:
    """Items of the split for these models, their uint8 targets at the models' size, and a scorer."""
    first = models[0]
    if any(m.size != first.size for m in models):
        raise BadInputError(prepared.root, "models work at different crop sizes; compare models of one size")
    records = prepared.select(split=None if split == "all" else split)
    shots = max(m.max_inputs for m in models)
    items = evaluation_items(records, first.target_expression, first.source_expressions, shots=shots)
    if not items:
        raise BadInputError(
            prepared.manifest_path,
            f"no evaluation items in split {split!r} for {first.name} (needs subjects with both "
            f"{'+'.join(first.source_expressions or ('an expressive',))} and {first.target_expression} crops)",
        )
    targets = to_uint8(_load(prepared, [i.target for i in items], first.size, first.channels))
    return items, targets, Scorer(targets, [i.key for i in items], first.target_expression, judges)


def _run_and_score(
    model: FaceModel,
    prepared: PreparedDataset,
    items: list[EvalItem],
    scorer: Scorer,
    batch_size: int,
    progress: Progress | None,
) -> ModelRun:
    """Run one model on the items and score it."""
    outputs, seconds = run_model(model, prepared, items, batch_size, progress)
    outputs = in_colour_of(outputs, scorer.targets)
    rows, summary = scorer.score(outputs)
    return ModelRun(model.name, outputs, seconds, rows, summary)
