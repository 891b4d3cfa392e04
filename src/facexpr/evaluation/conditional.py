"""The yardstick of conditional models (one model, a one-hot target expression): does the target matter?

"Generating Facial Expressions" reports a conditional DCGAN whose output
"always looks like the input, regardless of the one-hot vector". Pixel scores
against a real target photo do not show that failure (returning the input
scores well when the expression change is small), so a conditional model is
also asked for *every* expression it knows on each held-out person's neutral
photos, and measured on what it produced:

- ``expression_top1``: how often the FER judge's top class is the requested
  expression (chance 1/7; an identity-function model scores the input's
  expression, i.e. neutral). NaN for expressions the judge does not know.
- ``id_rank1`` / ``id_distance``: does the output still show its person? Rank-1
  among one neutral photo per person of all the data sets evaluated together,
  and the descriptor distance to the input photo.
- ``sharpness``: Laplacian variance of the output over the input's.
- ``d_<cue>``: how the output's geometric expression cues (dlib landmarks, :mod:`facexpr.faces.cues`:
  lip-corner lift, mouth opening and width, brow raise) moved from the input's: an expression judge that no
  model is trained against (a generator can learn to fool the FER judge with patterns no person shows).
  ``real_d_<cue>`` gives the same change between the held-out people's real neutral photos and their real
  photos of the target, where they exist: how far the face should move.
- the identity-function score (:func:`identity_function_score`): ``between_targets``, the mean absolute
  pixel difference between the outputs for two different targets, and ``to_input``, between output and
  input (both in [0, 1] units, 0 for the identity function).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import torch

from facexpr import metrics
from facexpr.data.pairing import PreparedDataset, expression_pairs
from facexpr.data.records import FaceRecord
from facexpr.evaluation.scoring import Judges
from facexpr.faces.cues import expression_cues
from facexpr.io import to_uint8
from facexpr.judges.expression import EXPRESSION_CLASSES
from facexpr.judges.identity import identity_scores
from facexpr.models import FaceModel
from facexpr.models.base import ConditionalModel, resize_to
from facexpr.viz import contact_sheet

#: How many photos the sheet of a run shows (one row each).
SHEET_ROWS = 12

#: The geometric cues whose change from the input each output is measured by.
CUES = ("lip_corner_lift", "mouth_open", "mouth_width", "brow_raise")
#: The per-target columns of :class:`ConditionalRun.summary`.
CONDITIONAL_METRICS = ("expression_top1", "id_rank1", "id_distance", "sharpness", "to_input",
                       *(f"d_{cue}" for cue in CUES))


def is_conditional(model: FaceModel) -> bool:
    """True for a model that produces several expressions on request (a one-hot conditional model)."""
    return isinstance(model, ConditionalModel) and len(model.target_expressions) > 1


@dataclass
class ConditionalRun:
    """A conditional model asked for each target on neutral photos: per-photo rows and their summaries."""

    model: str
    targets: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    between_targets: float = math.nan
    sheet: np.ndarray | None = None  # input | one output per target, for the first photos (uint8 RGB)
    real_changes: dict[str, dict[str, float]] = field(default_factory=dict)  # target -> real_d_<cue> means

    def summary(self) -> dict[str, dict[str, float]]:
        """Per requested target: ``n`` and the means of :data:`CONDITIONAL_METRICS`; ``all`` over every target
        (``expression_top1`` over the targets the judge knows)."""
        table = {}
        for target in (*self.targets, "all"):
            rows = [r for r in self.rows if target in ("all", r["target"])]
            table[target] = {"n": len(rows), **{k: _nanmean([r[k] for r in rows]) for k in CONDITIONAL_METRICS},
                             **self.real_changes.get(target, {})}
        return table

    def document(self) -> dict[str, Any]:
        """The run as strict-JSON-ready values (NaN as the string "nan")."""
        return {"model": self.model, "between_targets": metrics.finite_or_string(self.between_targets),
                "targets": {t: {k: v if k == "n" else metrics.finite_or_string(v) for k, v in values.items()}
                            for t, values in self.summary().items()}}


def outputs_identity_score(outputs: Mapping[str, torch.Tensor], inputs: torch.Tensor) -> dict[str, float]:
    """The identity-function score of one model's ``outputs`` per target (each (B, C, H, W), in [0, 1]) for the
    photos ``inputs`` (B, C, H, W): ``between_targets``, the mean absolute difference between the outputs for two
    different targets averaged over every pair of targets, and ``to_input``, between each output and its input
    averaged over the targets. Both are 0 for the identity function.

    Raises:
        ValueError: fewer than two targets.
    """
    if len(outputs) < 2:
        raise ValueError(f"the identity-function score needs at least two targets, got {list(outputs)}")
    between = [float((outputs[a] - outputs[b]).abs().mean()) for a, b in combinations(outputs, 2)]
    to_input = [float((output - inputs).abs().mean()) for output in outputs.values()]
    return {"between_targets": sum(between) / len(between), "to_input": sum(to_input) / len(to_input)}


@torch.no_grad()
def identity_function_score(model: FaceModel, inputs: torch.Tensor,
                            targets: Sequence[str] | None = None) -> dict[str, float]:
    """:func:`outputs_identity_score` of a conditional ``model`` asked for each of ``targets`` (default: all it
    knows) on the first photo of items ``inputs`` (B, N, C, H, W), compared at the model's size.

    Raises:
        ValueError: fewer than two targets, or one the model does not know.
    """
    targets = tuple(model.target_expressions if targets is None else targets)
    outputs = {t: model.predict(inputs, t).float() for t in targets}
    return outputs_identity_score(outputs, resize_to(inputs[:, 0].float().to(model.device), model.size))


def _nanmean(values: Sequence[float]) -> float:
    """Mean ignoring NaN (NaN when nothing is left)."""
    array = np.asarray(values, dtype=float)
    array = array[~np.isnan(array)]
    return float(array.mean()) if array.size else math.nan


def cue_changes(judges: Judges, before: np.ndarray, after: np.ndarray) -> list[dict[str, float]]:
    """Per pair of uint8 crops, ``d_<cue>``: the change of each of :data:`CUES` from ``before`` to ``after``
    (dlib landmarks of each crop, inter-ocular units)."""
    start = [asdict(expression_cues(points)) for points in judges.landmarks.landmarks(before)]
    end = [asdict(expression_cues(points)) for points in judges.landmarks.landmarks(after)]
    return [{f"d_{cue}": b[cue] - a[cue] for cue in CUES} for a, b in zip(start, end)]


def real_cue_changes(sets: Sequence[tuple[PreparedDataset, str]], targets: Sequence[str], size: int,
                     channels: int, judges: Judges) -> dict[str, dict[str, float]]:
    """Per target but neutral: ``real_d_<cue>``, the mean cue change from each held-out person's neutral photo to
    their real photos of that target (none: the target is left out)."""
    changes: dict[str, list[dict[str, float]]] = {}
    for prepared, split in sets:
        records = prepared.select(split=None if split == "all" else split)
        for target in targets:
            pairs = expression_pairs(records, source_expressions=("neutral",), target_expression=target).pairs
            if target == "neutral" or not pairs:
                continue
            before = to_uint8(_batch(prepared, [s for s, _ in pairs], size, channels))
            after = to_uint8(_batch(prepared, [t for _, t in pairs], size, channels))
            changes.setdefault(target, []).extend(cue_changes(judges, before, after))
    return {target: {f"real_{k}": _nanmean([row[k] for row in rows]) for k in rows[0]} for target, rows in changes.items()}


def neutral_photos(prepared: PreparedDataset, split: str) -> list[FaceRecord]:
    """The neutral crops of ``split`` (``all``: every split) in manifest order: what a conditional model is asked
    to change."""
    return prepared.select(split=None if split == "all" else split, expressions="neutral")


def _batch(prepared: PreparedDataset, records: Sequence[FaceRecord], size: int, channels: int) -> torch.Tensor:
    """Crops of ``records`` as (B, C, size, size), grey replicated to RGB or RGB averaged to grey for the model."""
    crops = resize_to(torch.stack([prepared.load(r) for r in records]), size)
    if crops.shape[1] == channels:
        return crops
    if channels == 1:
        return (crops * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    return crops.expand(-1, 3, -1, -1)


@torch.no_grad()
def conditional_run(
    model: FaceModel,
    sets: Sequence[tuple[PreparedDataset, str]],
    judges: Judges | None = None,
    batch_size: int = 64,
) -> ConditionalRun:
    """Ask ``model`` for each of its targets on every neutral photo of the (data set, split) pairs ``sets`` and
    score the outputs (see the module docstring). People of all sets form one identity gallery.

    Raises:
        ValueError: the model is not conditional, or the sets hold no neutral photo.
    """
    if not is_conditional(model):
        raise ValueError(f"{model.name} produces one expression; the conditional yardstick needs several")
    judges = judges or Judges.default()
    targets = tuple(model.target_expressions)
    photos = [(prepared, record) for prepared, split in sets for record in neutral_photos(prepared, split)]
    if not photos:
        raise ValueError("no neutral photos to ask a conditional model for expressions")
    inputs = torch.cat([_batch(prepared, [r], model.size, model.channels) for prepared, r in photos])
    keys = [r.key() for _, r in photos]
    input_u8 = to_uint8(inputs)
    input_descriptors = judges.identity.descriptors(input_u8)
    first: dict[tuple[str, str], int] = {}
    for index, key in enumerate(keys):
        first.setdefault(key, index)
    gallery_keys, gallery = list(first), input_descriptors[list(first.values())]
    outputs: dict[str, torch.Tensor] = {}
    for target in targets:
        outputs[target] = torch.cat([model.predict(inputs[i:i + batch_size, None].to(model.device), target).float().cpu()
                                     for i in range(0, len(inputs), batch_size)])
    run = ConditionalRun(model.name, targets)
    output_u8 = {target: to_uint8(output) for target, output in outputs.items()}
    shown = np.linspace(0, len(photos) - 1, min(SHEET_ROWS, len(photos))).round().astype(int)
    run.sheet = contact_sheet([[input_u8[i], *(output_u8[t][i] for t in targets)] for i in shown],
                              [photos[i][1].subject for i in shown], ["input", *targets])
    run.real_changes = real_cue_changes(sets, targets, model.size, model.channels, judges)
    for target, output in outputs.items():
        moved = cue_changes(judges, input_u8, output_u8[target])
        identity = identity_scores(judges.identity.descriptors(output_u8[target]), input_descriptors, keys, gallery, gallery_keys)
        top = judges.expression.probabilities(output_u8[target]).argmax(axis=1)
        sharpness = np.atleast_1d(metrics.sharpness_ratio(output_u8[target], input_u8))
        change = (output - inputs).abs().mean(dim=(1, 2, 3))
        for i, (_, record) in enumerate(photos):
            run.rows.append({
                "path": record.path, "source": record.source, "subject": record.subject, "target": target,
                "expression_top": EXPRESSION_CLASSES[top[i]],
                "expression_top1": float(EXPRESSION_CLASSES[top[i]] == target) if target in EXPRESSION_CLASSES else math.nan,
                "id_rank1": float(identity.rank1[i]), "id_distance": float(identity.distance[i]),
                "sharpness": float(sharpness[i]), "to_input": float(change[i]), **moved[i]})
    run.between_targets = outputs_identity_score(outputs, inputs)["between_targets"]
    return run
