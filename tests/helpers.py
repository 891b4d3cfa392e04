"""Small helpers shared by tests (importable because pytest puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from facexpr.data.pairing import PreparedDataset


def expression_crops(prepared: Path, split: str, classes: Sequence[str]) -> dict[str, torch.Tensor]:
    """expression -> (P, C, S, S) crops of the split's people that show every one of ``classes``, in one person
    order (so row i of each tensor is the same person)."""
    dataset = PreparedDataset(prepared)
    by_subject: dict[str, dict[str, torch.Tensor]] = {}
    for record in dataset.select(split):
        by_subject.setdefault(record.subject, {})[record.expression] = dataset.load(record)
    people = sorted(s for s, crops in by_subject.items() if set(crops) >= set(classes))
    return {e: torch.stack([by_subject[s][e] for s in people]) for e in classes}
