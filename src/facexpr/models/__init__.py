"""facexpr's models, one package per method, all behind :class:`facexpr.models.base.FaceModel`."""

from facexpr.models.base import (
    MODEL_FAMILIES,
    Classifier,
    ConditionalModel,
    FaceModel,
    LatentModel,
    SamplingModel,
    SubjectHeldOutModel,
    WarpingModel,
    load_model,
    register_model,
)
from facexpr.models.baselines import IdentityModel, MeanFaceModel

# The model families register themselves with load_model on import.
from facexpr.models import neutralizer, vae  # noqa: E402,F401  isort: skip
from facexpr.models import masked_regression  # noqa: E402,F401  isort: skip
from facexpr.models import geometric  # noqa: E402,F401  isort: skip
from facexpr.models import twostep  # noqa: E402,F401  isort: skip
from facexpr.models import cdcgan  # noqa: E402,F401  isort: skip
from facexpr.models import emotion  # noqa: E402,F401  isort: skip
from facexpr.models import nfgan  # noqa: E402,F401  isort: skip

__all__ = [
    "MODEL_FAMILIES", "Classifier", "ConditionalModel", "FaceModel", "IdentityModel", "LatentModel", "MeanFaceModel",
    "SamplingModel", "SubjectHeldOutModel", "WarpingModel", "load_model", "register_model",
]
