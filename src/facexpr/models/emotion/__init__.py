"""The models of "Facial Emotion Representation and Reconstruction with VAEs" (issue 13).

* :class:`ExpressionCNNConfig`, :class:`FaderConfig`, :class:`SSVAEConfig` (``config.py``): each family's
  settings, presets ``cpu`` (64 px RGB) and ``paper`` (128 px grey, as published).
* The paper's layers (``layers.py``): the classifier's trunk, the decoder, the classifier network.
* :class:`ExpressionCNNModel` (``cnn.py``): the trained classifier (``facexpr classify --model DIR``).

Training lives in :mod:`facexpr.training.expression_cnn`.
"""

from facexpr.models.emotion.cnn import ExpressionCNNModel, build_cnn
from facexpr.models.emotion.config import ExpressionCNNConfig, FaderConfig, SSVAEConfig

__all__ = ["ExpressionCNNConfig", "ExpressionCNNModel", "FaderConfig", "SSVAEConfig", "build_cnn"]
