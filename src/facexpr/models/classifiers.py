"""Expression classifiers behind :class:`~facexpr.models.base.Classifier`, and how ``facexpr classify`` finds one.

The FER2013 expression judge (:class:`~facexpr.judges.expression.ExpressionJudge`)
lives with the judges, which know nothing of models; :class:`ExpressionJudgeClassifier`
is the thin adapter that lets it stand wherever a classifier is asked for. Families that only classify (no
:class:`~facexpr.models.base.FaceModel`, such as the expression CNN) register with :func:`register_classifier`
and load from their folders as models do (config.json + safetensors, no code execution).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from facexpr.io import BadInputError
from facexpr.judges.expression import EXPRESSION_CLASSES, ExpressionJudge
from facexpr.models.base import (
    Classifier,
    load_model,
    read_model_config,
    read_model_tensors,
)

#: What ``facexpr classify --model`` calls the FER2013 judge.
FER_CLASSIFIER = "fer"
#: Crop side photos are aligned at for the judge: it cuts its own face box from any size and reads it at 64 px,
#: so the geometric model's 128 px keeps a margin of detail.
FER_CROP_SIZE = 128

#: family -> loader ``from_saved(config, tensors)`` of families that classify but draw no faces; filled by
#: :func:`register_classifier`.
CLASSIFIER_FAMILIES: dict[str, Callable[[dict[str, Any], dict[str, torch.Tensor]], Classifier]] = {}


def register_classifier(cls: type) -> type:
    """Class decorator: a classifier-only family (``family`` and ``from_saved``) that :func:`load_classifier`
    loads from its folder."""
    CLASSIFIER_FAMILIES[cls.family] = cls.from_saved
    return cls


class ExpressionJudgeClassifier:
    """The FER2013 expression judge as a :class:`~facexpr.models.base.Classifier` of RGB crops."""

    def __init__(self, judge: ExpressionJudge | None = None, size: int = FER_CROP_SIZE):
        self.judge = judge or ExpressionJudge()
        self.size = size
        self.channels = 3

    @property
    def classes(self) -> tuple[str, ...]:
        """FER2013's seven expressions, in facexpr's names."""
        return EXPRESSION_CLASSES

    def classify(self, crops: torch.Tensor) -> torch.Tensor:
        """Probabilities (B, 7) of :attr:`classes` for aligned crops (B, C, S, S) in [0, 1], on the crops' device."""
        return self.judge.probabilities_tensor(crops).detach().to(crops.device)


def load_classifier(spec: str | Path) -> Classifier:
    """``fer`` (the FER2013 judge, unless a folder of that name exists), a classifier-only family's folder
    (:func:`register_classifier`) or a model folder whose model classifies.

    Raises:
        BadInputError: not a model folder, or a model that cannot classify (naming its family).
    """
    if str(spec) == FER_CLASSIFIER and not Path(spec).exists():
        return ExpressionJudgeClassifier()
    config = read_model_config(spec)
    if config.get("family") in CLASSIFIER_FAMILIES:
        return CLASSIFIER_FAMILIES[config["family"]](config, read_model_tensors(spec))
    model = load_model(spec)
    if not isinstance(model, Classifier):
        raise BadInputError(spec, f"this model cannot classify expressions (family {model.family})")
    return model
