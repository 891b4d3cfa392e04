"""Does a neutralizer leave neutral faces alone? The yardstick's second question.

A neutralizer is also given photos that are already neutral (each evaluated
person's neutral reference). It should return them as they are: the landmarks
should not move (a fixed "mean smile removal" would push a neutral face towards
a frown), the expression judge should not find them less neutral, and the face
should stay as sharp. :func:`neutral_stability` measures the three against the
input itself, not against a target.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from facexpr import metrics
from facexpr.data.pairing import PreparedDataset, neutral_reference
from facexpr.evaluation.items import predict_held_out
from facexpr.evaluation.scoring import Judges
from facexpr.io import to_uint8
from facexpr.judges.expression import EXPRESSION_CLASSES
from facexpr.judges.geometry import landmark_error
from facexpr.models import FaceModel
from facexpr.models.base import resize_to

#: The keys of a :func:`neutral_stability` result.
STABILITY_KEYS = ("landmark_shift", "p_neutral_change", "sharpness")


def neutral_stability(
    model: FaceModel, prepared: PreparedDataset, split: str | None, judges: Judges, batch_size: int = 64,
) -> dict[str, Any]:
    """The model run on each person's neutral reference of ``split`` (None: all), compared with that input.

    Returns ``n`` and the means of ``landmark_shift`` (inner landmarks of the
    output vs the input, over the input's inter-ocular distance),
    ``p_neutral_change`` (the FER judge's p(neutral) of the output minus the
    input's) and ``sharpness`` (Laplacian variance of the output over the input's).
    """
    records = list(neutral_reference(prepared.select(split)).values())
    if not records:
        return {"n": 0, **{key: float("nan") for key in STABILITY_KEYS}}
    inputs, outputs = [], []
    for start in range(0, len(records), batch_size):
        chunk = records[start:start + batch_size]
        crops = resize_to(torch.stack([prepared.load(r) for r in chunk]), model.size)
        if crops.shape[1] != model.channels:
            crops = crops.mean(1, keepdim=True) if model.channels == 1 else crops.expand(-1, 3, -1, -1)
        predicted = predict_held_out(model, crops.unsqueeze(1), [r.key() for r in chunk])
        inputs.append(to_uint8(crops))
        outputs.append(to_uint8(predicted))
    before, after = np.concatenate(inputs), np.concatenate(outputs)
    neutral = EXPRESSION_CLASSES.index("neutral")
    shift = landmark_error(judges.landmarks.landmarks(after), judges.landmarks.landmarks(before))
    change = judges.expression.probabilities(after)[:, neutral] - judges.expression.probabilities(before)[:, neutral]
    sharpness = np.atleast_1d(metrics.sharpness_ratio(after, before))
    return {
        "n": len(records),
        "landmark_shift": float(np.mean(shift)),
        "p_neutral_change": float(np.mean(change)),
        "sharpness": float(np.mean(sharpness[np.isfinite(sharpness)])) if np.isfinite(sharpness).any() else float("nan"),
    }
