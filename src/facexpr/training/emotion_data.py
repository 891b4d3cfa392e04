"""Labelled crops for the emotion-VAE paper's families: the paper's balancing as an option, the label
distribution before and after it (numbers in the summary, a bar chart in the training folder), and the
classification scores on held-out people that the summaries report."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import ConcatDataset, Dataset

from facexpr.data.balance import BalancedDataset
from facexpr.data.pairing import LabelledFaceDataset
from facexpr.io import write_text_atomic
from facexpr.metrics import json_safe
from facexpr.models.emotion.config import NEUTRAL
from facexpr.training.data import (
    DataSource,
    LabelledDataModule,
    RepeatedDataset,
    open_prepared,
)
from facexpr.training.trainer import SUMMARY_FILE

#: The bar chart of label counts written into the training folder.
LABEL_CHART = "label_counts.png"
#: Splits that hold people a model never trained on, in order of preference.
HELD_OUT_SPLITS = ("test", "val")


@dataclass(frozen=True)
class LabelledOptions:
    """How the labelled crops are drawn.

    Attributes:
        balance: the paper's balancing: every expression brought to this many training samples (augmented
            copies: flip p=0.5, then brightness/contrast, perspective or rotation); 0 keeps the data as it is.
    """

    balance: int = field(default=0, metadata={"flag": "--balance"})

    def __post_init__(self) -> None:
        """Reject a negative count (ValueError, one line)."""
        if self.balance < 0:
            raise ValueError(f"balance must not be negative, got {self.balance}")

    def to_dict(self) -> dict[str, Any]:
        """The options as a plain dict (recorded in the training summary)."""
        return asdict(self)


def item_labels(dataset: ConcatDataset) -> list[int]:
    """Each item's class index, read from the records of a concatenation of :class:`LabelledFaceDataset`."""
    return [part.classes.index(record.expression) for part in dataset.datasets for record in part.records]


class EmotionDataModule(LabelledDataModule):
    """:class:`LabelledDataModule` with the paper's balancing of the training set (``balance`` per class).

    Attributes:
        counts: ``before`` and ``after`` balancing: class name -> training samples.
    """

    def __init__(self, data: DataSource | Sequence[DataSource], split: str = "train", batch_size: int = 16,
                 workers: int = 0, min_epoch_items: int = 0, balance: int = 0, seed: int = 0):
        super().__init__(data, split, batch_size, workers, min_epoch_items)
        base = self.train_set.dataset if isinstance(self.train_set, RepeatedDataset) else self.train_set
        labels = item_labels(base)
        before = Counter(labels)
        if balance:
            balanced: Dataset = BalancedDataset(base, labels, balance, seed)
            self.train_set = balanced
            if min_epoch_items > len(balanced):
                self.train_set = RepeatedDataset(balanced, -(-min_epoch_items // len(balanced)) * len(balanced))
            after = balanced.after
        else:
            after = before
        self.counts = {stage: {c: counts.get(i, 0) for i, c in enumerate(self.classes)}
                       for stage, counts in (("before", before), ("after", after))}

    def describe(self) -> dict[str, Any]:
        """The base description and the label counts before and after balancing."""
        return {**super().describe(), "label_counts": self.counts}


def write_label_chart(path: Path, counts: dict[str, dict[str, int]]) -> None:
    """A bar chart of training samples per expression, before and after balancing side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(counts["before"])
    figure, axes = plt.subplots(figsize=(1.2 * len(names) + 2, 3.2))
    width = 0.4
    for offset, stage in ((-width / 2, "before"), (width / 2, "after")):
        axes.bar([i + offset for i in range(len(names))], [counts[stage][n] for n in names], width, label=stage)
    axes.set_xticks(range(len(names)), names)
    axes.set_ylabel("training samples")
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def held_out_scores(classify: Callable[[torch.Tensor], torch.Tensor], data: DataSource | Sequence[DataSource],
                    classes: Sequence[str], batch_size: int = 64) -> dict[str, Any]:
    """Accuracy and confusion matrix (rows: true class, columns: predicted) of ``classify(crops) -> (B, K)
    probabilities`` on the people each folder held out (its test split, else val), with the split used; and
    ``neutral_vs``: per expression, the accuracy of telling its crops from the neutral ones by the larger of
    the two classes' probabilities (the emotion-VAE paper's neutral-vs-emotion test, which a 7-way confusion
    hides)."""
    sources = data if isinstance(data, (list, tuple)) else [data]
    matrix = torch.zeros(len(classes), len(classes), dtype=torch.long)
    labels, probabilities = [], []
    used = []
    for source in sources:
        prepared = open_prepared(source)
        split = next((s for s in HELD_OUT_SPLITS if s in prepared.splits), None)
        if split is None or not any(r.expression in classes for r in prepared.select(split)):
            continue
        used.append(f"{prepared.root}:{split}")
        dataset = LabelledFaceDataset(prepared, split, classes)
        for start in range(0, len(dataset), batch_size):
            items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
            batch_probabilities = classify(torch.stack([item["image"] for item in items])).cpu()
            for item, guess in zip(items, batch_probabilities.argmax(1).tolist()):
                matrix[item["label"], guess] += 1
            labels += [int(item["label"]) for item in items]
            probabilities.append(batch_probabilities)
    total = int(matrix.sum())
    return {"splits": used, "items": total,
            "accuracy": round(float(matrix.diag().sum()) / total, 4) if total else None,
            "classes": list(classes), "confusion": matrix.tolist(),
            "neutral_vs": neutral_versus(torch.tensor(labels, dtype=torch.long),
                                         torch.cat(probabilities) if probabilities else torch.zeros(0, len(classes)),
                                         classes)}


def neutral_versus(labels: torch.Tensor, probabilities: torch.Tensor, classes: Sequence[str]) -> dict[str, float]:
    """Expression -> accuracy of telling its crops from neutral ones (labels (n,), probabilities (n, K)): each
    crop of the two classes goes to the one of the two with the larger probability. Expressions without
    crops, or with no neutral crops at all, are left out."""
    if NEUTRAL not in classes:
        return {}
    neutral = list(classes).index(NEUTRAL)
    scores = {}
    for index, expression in enumerate(classes):
        chosen = (labels == neutral) | (labels == index)
        if index == neutral or not bool((labels == index).any()) or not bool((labels == neutral).any()):
            continue
        says_expression = probabilities[chosen, index] > probabilities[chosen, neutral]
        scores[expression] = round(float((says_expression == (labels[chosen] == index)).float().mean()), 4)
    return scores


def record_in_summary(out_dir: Path, model: Any, summary: dict[str, Any], **entries: Any) -> dict[str, Any]:
    """Add ``entries`` (e.g. held-out scores) to a finished run's summary, in ``summary.json`` and in the
    model's ``config.json``; returns the new summary."""
    summary = json_safe({**summary, **entries})
    model.save(out_dir, extra={"training": summary})
    write_text_atomic(out_dir / SUMMARY_FILE, json.dumps(summary, indent=2))
    return summary
