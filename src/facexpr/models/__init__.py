"""facexpr's models, one package per method, all behind :class:`facexpr.models.base.FaceModel`."""

from facexpr.models.base import MODEL_FAMILIES, FaceModel, load_model, register_model
from facexpr.models.baselines import IdentityModel, MeanFaceModel

__all__ = ["MODEL_FAMILIES", "FaceModel", "IdentityModel", "MeanFaceModel", "load_model", "register_model"]
