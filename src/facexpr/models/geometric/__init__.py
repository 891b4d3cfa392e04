"""Geometry-guided neutralization and synthesis (family ``geometric``).

An expression mostly moves landmarks. :class:`GeometricModel` predicts where a
face's 68 landmarks would sit in the target expression (``shape.py``: ridge
regression on the shape, person-independent, no expression label needed to
neutralize), warps the photo there with a border-pinned thin-plate spline
(``warp.py``: the person's own pixels, so the output stays sharp) and corrects
inside the face what a warp cannot do (``appearance.py``). How it is fitted
from prepared folders lives in :mod:`facexpr.training.geometric_fit`;
:func:`default_model` is the model shipped with the package (trained on the
Face Research Lab London set, CC BY 4.0).

Importing the package registers the family with :func:`facexpr.models.load_model`.
"""

from facexpr.models.geometric.appearance import Appearance
from facexpr.models.geometric.default import DEFAULT_MODEL_DIR, default_model
from facexpr.models.geometric.model import (
    GeometricModel,
    GeometricOptions,
    find_landmarks,
    neutrality_scorer,
)
from facexpr.models.geometric.shape import (
    ShapeMap,
    fit_shape_map,
    implausible_reason,
    to_crop_units,
    to_pixels,
)
from facexpr.models.geometric.warp import face_region_mask, tps_warp

__all__ = [
    "DEFAULT_MODEL_DIR", "Appearance", "GeometricModel", "GeometricOptions", "ShapeMap", "default_model",
    "face_region_mask", "find_landmarks", "fit_shape_map", "implausible_reason", "neutrality_scorer",
    "to_crop_units", "to_pixels", "tps_warp",
]
