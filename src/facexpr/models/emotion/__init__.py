"""The models of "Facial Emotion Representation and Reconstruction with VAEs" (issue 13).

* :class:`ExpressionCNNConfig`, :class:`FaderConfig`, :class:`SSVAEConfig`, :class:`ComparatorConfig` (``config.py``): each family's
  settings, presets ``cpu`` (64 px RGB) and ``paper`` (128 px grey, as published).
* The paper's layers (``layers.py``): the classifier's trunk, the decoder, the classifier network.
* :class:`ExpressionCNNModel` (``cnn.py``): the trained classifier (``facexpr classify --model DIR``).
* :class:`FaderModel` (``fader.py``): the Fader network, expressions as sliders (family ``fader``).
* :class:`SSVAEModel` (``ssvae.py``): the semi-supervised beta-VAE whose latent classifies (family ``ssvae``).
* :class:`ComparatorModel` (``comparator.py``): the siamese comparator, same expression or not (family
  ``comparator``), read by :func:`load_comparator`; the Fader's ``--siamese`` guidance.
* :class:`Traversable` (``traverse.py``): what both generative families share, the paper's Fig. 8/11 strips
  (one expression's attribute dialled over its training range and the opposite way).

Training lives in :mod:`facexpr.training.expression_cnn`, :mod:`facexpr.training.fader`,
:mod:`facexpr.training.ssvae` and :mod:`facexpr.training.comparator`.
"""

from facexpr.models.emotion.cnn import ExpressionCNNModel, build_cnn
from facexpr.models.emotion.comparator import (
    ComparatorModel,
    ComparatorNet,
    load_comparator,
)
from facexpr.models.emotion.config import (
    ComparatorConfig,
    ExpressionCNNConfig,
    FaderConfig,
    SSVAEConfig,
)
from facexpr.models.emotion.fader import FaderModel, FaderNet
from facexpr.models.emotion.ssvae import SSVAEModel, SSVAENet
from facexpr.models.emotion.traverse import Traversable, Traversal

__all__ = ["ComparatorConfig", "ComparatorModel", "ComparatorNet", "ExpressionCNNConfig", "ExpressionCNNModel",
           "FaderConfig", "FaderModel", "FaderNet", "SSVAEConfig", "SSVAEModel", "SSVAENet", "Traversable",
           "Traversal", "build_cnn", "load_comparator"]
