"""Subject-level cross-validation of the geometric model: every person scored by a model that never saw them.

A test split of a small dataset holds two or three people (Yale's has two), too
few to say anything. :func:`cross_validate_geometric` splits the people of one
prepared dataset into K folds (a person is never in two folds), and for each
fold fits the geometric model on the other folds (plus, optionally, other
prepared datasets' ``--extra-split``) and runs ``facexpr evaluate`` on the
held-out fold. Every item is scored once, so the pooled per-item means are the
cross-validated numbers of the model and of the baselines on the same crops.

Each fold's folder holds its ``manifest.csv`` (absolute crop paths; no crop is
copied), its model and its evaluation. Identity rank-1 is judged within a
fold's gallery (its few people), so it is easier than on a whole split.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from facexpr.data.pairing import PreparedDataset
from facexpr.data.records import write_manifest
from facexpr.evaluation.evaluate import evaluate
from facexpr.evaluation.scoring import METRICS, Judges
from facexpr.io import BadInputError, write_text_atomic
from facexpr.metrics import finite_or_string
from facexpr.models.geometric import GeometricOptions
from facexpr.training.geometric_fit import fit_geometric

Progress = Callable[[int, int, str], None]
#: Per-item row columns pooled into each metric (``id_same`` rows give ``id_same_rate``).
_ROW_KEYS = {"id_same_rate": "id_same"}


@dataclass
class CrossValidation:
    """What :func:`cross_validate_geometric` wrote: pooled metrics per model and the per-fold documents."""

    out_dir: Path
    document: dict[str, Any]


def fold_people(people: Sequence[tuple[str, str]], folds: int) -> list[list[tuple[str, str]]]:
    """People (sorted) dealt round-robin into ``folds`` folds: deterministic, sizes differ by at most one."""
    ordered = sorted(set(people))
    return [ordered[k::folds] for k in range(folds)]


def _pooled(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Means of the per-item rows of one model over every fold."""
    pooled = {}
    for metric in METRICS:
        key = _ROW_KEYS.get(metric, metric)
        values = [row[key] for row in rows if isinstance(row.get(key), (int, float))]
        if metric == "expression_top1":
            values = [float(row["expression_top"] == "neutral") for row in rows]
        values = [v for v in values if not math.isnan(v)]
        pooled[metric] = float(np.mean(values)) if values else math.nan
    return pooled


def cross_validate_geometric(
    data: str | Path,
    out: str | Path,
    folds: int = 5,
    extra: Sequence[str | Path] = (),
    extra_split: str = "train",
    options: GeometricOptions | None = None,
    judges: Judges | None = None,
    progress: Progress | None = None,
) -> CrossValidation:
    """K-fold subject-level cross-validation of the geometric model on ``data`` (see the module docstring).

    Writes ``OUT/fold<k>/`` per fold, and ``OUT/crossval.json`` and
    ``OUT/crossval.md``: per model (the geometric model, identity, mean-neutral)
    the pooled means of every metric and of the neutral-input stability.

    Raises:
        BadInputError: fewer than two people or ``folds`` outside 2..people.
    """
    data, out = Path(data), Path(out)
    prepared = PreparedDataset(data)
    people = sorted({r.key() for r in prepared.records})
    if not 2 <= folds <= len(people):
        raise BadInputError(data, f"--folds must be between 2 and the number of people ({len(people)}), not {folds}")
    extras = [PreparedDataset(folder) for folder in extra]
    judges = judges or Judges.default()
    rows: dict[str, list[dict[str, Any]]] = {}
    stability: dict[str, list[dict[str, Any]]] = {}
    for k, held_out in enumerate(fold_people(people, folds)):
        fold_dir = out / f"fold{k}"
        held = set(held_out)
        records = [replace(r, path=str(prepared.image_path(r).resolve()), split="test" if r.key() in held else "train")
                   for r in prepared.records]
        write_manifest(fold_dir / "manifest.csv", records)
        fold_data = PreparedDataset(fold_dir)
        splits = ["train", *([None if extra_split == "all" else extra_split] * len(extras))]
        fit_geometric([fold_data, *extras], splits, options).save(fold_dir / "model")
        result = evaluate(str(fold_dir / "model"), fold_dir, "test", fold_dir / "evaluation", judges=judges)
        for run in result.runs:
            name = "model" if run is result.runs[0] else run.name
            rows.setdefault(name, []).extend(run.rows)
        for name, values in result.document.get("neutral_inputs", {}).items():
            stability.setdefault("model" if name == result.runs[0].name else name, []).append(values)
        if progress:
            progress(k + 1, folds, f"fold {k}")
    document = {
        "data": str(data),
        "extra": [str(p) for p in extra],
        "extra_split": extra_split,
        "folds": folds,
        "people": len(people),
        "items": len(rows["model"]),
        "options": (options or GeometricOptions()).__dict__,
        "metrics": {name: {k: finite_or_string(v) for k, v in _pooled(r).items()} for name, r in rows.items()},
        "neutral_inputs": {name: _pooled_stability(values) for name, values in stability.items()},
    }
    write_text_atomic(out / "crossval.json", json.dumps(document, indent=2))
    write_text_atomic(out / "crossval.md", _markdown(document))
    return CrossValidation(out, document)


def _pooled_stability(values: list[dict[str, Any]]) -> dict[str, Any]:
    """Neutral-input stability of one model, averaged over folds weighted by their people."""
    total = sum(v["n"] for v in values)
    pooled: dict[str, Any] = {"n": total}
    for key in ("landmark_shift", "p_neutral_change", "sharpness"):
        numbers = [(v[key], v["n"]) for v in values if isinstance(v[key], (int, float))]
        weight = sum(n for _, n in numbers)
        pooled[key] = finite_or_string(sum(x * n for x, n in numbers) / weight if weight else math.nan)
    return pooled


def _markdown(document: dict[str, Any]) -> str:
    """The pooled table as Markdown."""
    names = list(document["metrics"])
    lines = [
        f"# Cross-validated geometric model: {document['data']}",
        "",
        f"{document['folds']} subject-level folds, {document['people']} people, {document['items']} items; "
        f"extra training data: {', '.join(document['extra']) or 'none'} ({document['extra_split']} split).",
        "",
        "| metric | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for metric in METRICS:
        cells = [document["metrics"][n][metric] for n in names]
        lines.append(f"| {metric} | " + " | ".join(c if isinstance(c, str) else f"{c:.4g}" for c in cells) + " |")
    lines += ["", "Neutral inputs (each person's neutral face given to the model):", "",
              "| model | n | landmark shift | p(neutral) change | sharpness |", "|---|---|---|---|---|"]
    for name, values in document["neutral_inputs"].items():
        cells = [values[k] for k in ("landmark_shift", "p_neutral_change", "sharpness")]
        lines.append(f"| {name} | {values['n']} | " + " | ".join(c if isinstance(c, str) else f"{c:.4g}" for c in cells) + " |")
    return "\n".join(lines) + "\n"
