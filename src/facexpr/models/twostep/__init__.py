"""The two-step CNN of "Generating Facial Expressions" (after Ghodrati et al.): one model, every target.

* :class:`TwoStepConfig` (``config.py``): both encoder-decoders, the classification head, loss, optimizer,
  presets ``cpu`` and ``report``.
* :class:`TwoStepNet` (``network.py``): step 1 (photo + one-hot -> the target), step 2 (refines step 1's
  output) and the report's classification head (:class:`ExpressionHead`).
* :class:`TwoStepModel` (``model.py``): the trained model as a :class:`facexpr.models.FaceModel`.

Training lives in :mod:`facexpr.training.twostep` (``train_twostep``).
"""

from facexpr.models.twostep.config import LOSSES, OPTIMIZERS, PRESETS, TwoStepConfig
from facexpr.models.twostep.model import TwoStepModel, default_target
from facexpr.models.twostep.network import (
    ExpressionHead,
    TwoStepNet,
    TwoStepOutput,
    head_features,
)

__all__ = [
    "LOSSES", "OPTIMIZERS", "PRESETS", "ExpressionHead", "TwoStepConfig", "TwoStepModel", "TwoStepNet",
    "TwoStepOutput", "default_target", "head_features",
]
