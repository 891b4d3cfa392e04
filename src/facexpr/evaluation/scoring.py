"""Scoring outputs against targets with every judge: pixels, identity, geometry, expression.

A :class:`Scorer` is built once per set of items: the targets' descriptors,
landmarks and the identity gallery are computed once and reused for every model
compared on those items.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from facexpr import metrics
from facexpr.judges.expression import EXPRESSION_CLASSES, ExpressionJudge
from facexpr.judges.geometry import LandmarkJudge, landmark_error
from facexpr.judges.identity import IdentityJudge, identity_scores

#: The metric names of metrics.json, in report order, with whether higher is better.
METRICS: dict[str, bool] = {
    "psnr": True,
    "ssim": True,
    "mse": False,
    "mse_255": False,
    "sharpness": True,
    "id_distance": False,
    "id_same_rate": True,
    "id_rank1": True,
    "landmark_error": False,
    "p_neutral": True,
    "expression_top1": True,
}


@dataclass
class Judges:
    """The three face judges, loaded once (each loads its model lazily)."""

    identity: IdentityJudge
    landmarks: LandmarkJudge
    expression: ExpressionJudge

    @classmethod
    def default(cls) -> "Judges":
        """The offline judges: dlib descriptor, dlib landmarks, FER2013 mini-Xception."""
        return cls(IdentityJudge(), LandmarkJudge(), ExpressionJudge())


def _mean(values: Sequence[float]) -> float:
    """Mean that keeps +inf (identical images) and ignores NaN (undefined ratios)."""
    array = np.asarray(values, dtype=float)
    array = array[~np.isnan(array)]
    if array.size == 0:
        return math.nan
    return float(np.mean(array)) if np.isfinite(array).all() else float(array.max())


class Scorer:
    """Scores uint8 output crops against fixed uint8 target crops of known subjects."""

    def __init__(
        self,
        targets: np.ndarray,
        keys: Sequence[tuple[str, str]],
        target_expression: str = "neutral",
        judges: Judges | None = None,
    ):
        self.targets = targets
        self.keys = [tuple(k) for k in keys]
        self.target_expression = target_expression
        self.judges = judges or Judges.default()
        self.target_descriptors = self.judges.identity.descriptors(targets)
        self.target_landmarks = self.judges.landmarks.landmarks(targets)
        first: dict[tuple[str, str], int] = {}
        for index, key in enumerate(self.keys):
            first.setdefault(key, index)
        self.gallery_keys = list(first)
        self.gallery = self.target_descriptors[list(first.values())]

    def score(self, outputs: np.ndarray) -> tuple[list[dict[str, Any]], dict[str, float]]:
        """Per-item metric rows and their summary (means and rates) for ``outputs`` (same order as targets)."""
        identity = identity_scores(
            self.judges.identity.descriptors(outputs), self.target_descriptors, self.keys,
            self.gallery, self.gallery_keys,
        )
        distance, same, rank1 = identity.distance, identity.same_person, identity.rank1
        geometry = np.atleast_1d(landmark_error(self.judges.landmarks.landmarks(outputs), self.target_landmarks))
        probabilities = self.judges.expression.probabilities(outputs)
        neutral = EXPRESSION_CLASSES.index("neutral")
        top = [EXPRESSION_CLASSES[i] for i in probabilities.argmax(axis=1)]
        judged_target = self.target_expression in EXPRESSION_CLASSES
        rows = []
        pixel = {name: np.atleast_1d(getattr(metrics, function)(outputs, self.targets)) for name, function in (
            ("psnr", "psnr"), ("ssim", "ssim"), ("mse", "mse"), ("mse_255", "mse_255"), ("sharpness", "sharpness_ratio"))}
        columns = {
            **pixel,
            "id_distance": distance,
            "id_same": same,
            "id_rank1": rank1,
            "landmark_error": geometry,
            "p_neutral": probabilities[:, neutral],
        }
        for i in range(len(outputs)):
            row = {name: float(values[i]) for name, values in columns.items()}
            row["expression_top"] = top[i]
            rows.append(row)
        summary = {
            "psnr": _mean(columns["psnr"]),
            "ssim": _mean(columns["ssim"]),
            "mse": _mean(columns["mse"]),
            "mse_255": _mean(columns["mse_255"]),
            "sharpness": _mean(columns["sharpness"]),
            "id_distance": _mean(distance),
            "id_same_rate": _mean(same),
            "id_rank1": _mean(rank1),
            "landmark_error": _mean(geometry),
            "p_neutral": _mean(columns["p_neutral"]),
            "expression_top1": _mean([t == self.target_expression for t in top]) if judged_target else math.nan,
        }
        return rows, summary
