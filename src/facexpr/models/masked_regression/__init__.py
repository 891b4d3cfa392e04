"""Masked regression (Khan et al., IJCV): closed-form expression mapping with local receptive fields.

* :class:`MaskedRegression` (``masked-regression``): per-pixel ridge over an
  ``r x r`` (dilated) neighbourhood, fitted in closed form for all pixels at
  once (``closed_form.py``), colour-tuple or per-channel, with ego refinement
  (``ego.py``) and interpretability images.
* Baselines with the same interface (``baselines.py``): :class:`MaskedLasso`
  (l1), :class:`MaskedOMP` (l0) and :class:`GlobalRidge` (l2 over whole images
  through the N x N dual).
* :func:`training_pairs`, :func:`expression_mappings`: which pairs a mapping
  trains on, and every neutral <-> expression mapping of a dataset.

Importing the package registers the four families with :func:`facexpr.models.load_model`.
"""

from facexpr.models.masked_regression.baselines import (
    GlobalRidge,
    MaskedLasso,
    MaskedOMP,
)
from facexpr.models.masked_regression.closed_form import (
    RidgeAccumulator,
    cholesky_solve_columns,
)
from facexpr.models.masked_regression.ego import EgoOptions, ego_alpha, weight_norm
from facexpr.models.masked_regression.model import (
    COLOUR_MODES,
    DEFAULT_LAMBDA,
    INTERPRETABILITY_IMAGES,
    LocalLinearModel,
    MaskedRegression,
    expression_mappings,
    training_pairs,
)
from facexpr.models.masked_regression.receptive import (
    ReceptiveField,
    apply_local_linear,
)

__all__ = [
    "COLOUR_MODES", "DEFAULT_LAMBDA", "INTERPRETABILITY_IMAGES", "EgoOptions", "GlobalRidge", "LocalLinearModel",
    "MaskedLasso", "MaskedOMP", "MaskedRegression", "ReceptiveField", "RidgeAccumulator", "apply_local_linear",
    "cholesky_solve_columns", "ego_alpha", "expression_mappings", "training_pairs", "weight_norm",
]
