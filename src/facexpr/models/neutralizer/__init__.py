"""Stage 2: the multi-image neutralizer (shared encoder over N photos, pooling, decoder, optional blending mask).

* :class:`NeutralizerConfig` (``config.py``): modes ``scratch``, ``scratch-reg``,
  ``frozen``, ``frozen-reg``; pooling; the blending option (on by default) and its head
  (``mask``, or ``flow``: each photo also warped towards the neutral face).
* :class:`NeutralizerNet` (``network.py``).
* :class:`NeutralizerModel` (``model.py``): the trained model as a :class:`facexpr.models.FaceModel`.

Training lives in :mod:`facexpr.training` (``train_neutralizer``).
"""

from facexpr.models.neutralizer.config import HEADS, MODES, POOLINGS, NeutralizerConfig
from facexpr.models.neutralizer.model import NeutralizerModel
from facexpr.models.neutralizer.network import (
    NeutralizerNet,
    NeutralizerOutput,
    pool_features,
)
from facexpr.nn import MaskHead, warp

__all__ = [
    "HEADS", "MODES", "POOLINGS", "MaskHead", "NeutralizerConfig", "NeutralizerModel", "NeutralizerNet",
    "NeutralizerOutput", "pool_features", "warp",
]
