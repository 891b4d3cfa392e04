"""What is evaluated: items of expressive photo(s) -> the subject's true target face, and a model run on them."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import torch

from facexpr.data.pairing import expression_pairs
from facexpr.data.records import FaceRecord
from facexpr.models import FaceModel, SubjectHeldOutModel


@dataclass(frozen=True)
class EvalItem:
    """One evaluation case: a subject's input crop(s) and the crop the output should match."""

    name: str
    inputs: tuple[FaceRecord, ...]
    target: FaceRecord

    @property
    def key(self) -> tuple[str, str]:
        """The subject's (source, subject) identity."""
        return self.target.key()


def _slug(text: str) -> str:
    """A file-name-safe label."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def evaluation_items(
    records: list[FaceRecord],
    target_expression: str = "neutral",
    source_expressions: tuple[str, ...] | None = None,
    shots: int = 1,
) -> list[EvalItem]:
    """Build the items of a split.

    Neutralization (``target_expression == "neutral"``): each expressive crop
    with the subject's neutral reference. Synthesis: each neutral crop with the
    subject's crop of ``target_expression``. With ``shots > 1`` (multi-image
    models) each subject gives one item holding up to ``shots`` of its inputs
    (in manifest order), so every subject counts once.
    """
    if source_expressions is None and target_expression != "neutral":
        source_expressions = ("neutral",)
    pairs = expression_pairs(records, source_expressions=source_expressions, target_expression=target_expression).pairs
    if shots <= 1:
        return [
            EvalItem(_slug(f"{s.source}_{s.subject}_{s.expression}_{s.take}"), (s,), t)
            for s, t in pairs
        ]
    grouped: dict[tuple[str, str], list[FaceRecord]] = defaultdict(list)
    targets: dict[tuple[str, str], FaceRecord] = {}
    for source, target in pairs:
        grouped[target.key()].append(source)
        targets[target.key()] = target
    return [
        EvalItem(_slug(f"{key[0]}_{key[1]}_{len(inputs[:shots])}shot"), tuple(inputs[:shots]), targets[key])
        for key, inputs in sorted(grouped.items())
    ]


@torch.no_grad()
def predict_held_out(model: FaceModel, inputs: torch.Tensor, subjects: Sequence[tuple[str, str]]) -> torch.Tensor:
    """The model's outputs (B, C, H, W), on the CPU, for items (B, N, C, H, W) of the people ``subjects``.

    A model that must not use an item's own person
    (:class:`~facexpr.models.base.SubjectHeldOutModel`: the mean-face baseline
    fitted on the held-out set itself) is told who each item is; every other
    model simply predicts. Inputs go to the model's device.
    """
    inputs = inputs.to(model.device)
    if isinstance(model, SubjectHeldOutModel):
        return model.predict_leaving_out(inputs, subjects).cpu()
    return model.predict(inputs).cpu()
