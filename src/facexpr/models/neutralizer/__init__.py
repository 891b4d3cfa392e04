"""Stage 2: the multi-image neutralizer (shared encoder over N photos, pooling, decoder, optional blending mask).

* :class:`NeutralizerConfig` (``config.py``): modes ``scratch``, ``scratch-reg``,
  ``frozen``, ``frozen-reg``; pooling; the blending option (on by default).
* :class:`NeutralizerNet` (``network.py``).
* :class:`NeutralizerModel` (``model.py``): the trained model as a :class:`facexpr.models.FaceModel`.

Training lives in :mod:`facexpr.training` (``train_neutralizer``).
"""

from facexpr.models.neutralizer.config import MODES, POOLINGS, NeutralizerConfig
from facexpr.models.neutralizer.model import NeutralizerModel
from facexpr.models.neutralizer.network import MaskHead, NeutralizerNet, NeutralizerOutput, pool_features

__all__ = [
    "MODES", "POOLINGS", "MaskHead", "NeutralizerConfig", "NeutralizerModel", "NeutralizerNet",
    "NeutralizerOutput", "pool_features",
]
