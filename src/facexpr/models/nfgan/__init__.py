"""NFGAN, "Normalized Face Image Generation with Perceptron Generative Adversarial Networks" (issue 11).

* :class:`NFGANConfig` (``config.py``): networks and the weights of Algorithm 1's losses; presets ``cpu``
  (default) and ``paper``.
* :class:`NFGANNet`, :class:`NFGANDiscriminator` (``networks.py``): encoder + decoder, and the discriminator.
* :class:`NFGANModel` (``model.py``): the trained encoder-decoder as a :class:`facexpr.models.FaceModel`.

Training lives in :mod:`facexpr.training.nfgan` (``facexpr train nfgan``).
"""

from facexpr.models.nfgan.config import PRESETS, NFGANConfig
from facexpr.models.nfgan.model import NFGANModel, to_network_channels
from facexpr.models.nfgan.networks import NFGANDiscriminator, NFGANNet

__all__ = ["PRESETS", "NFGANConfig", "NFGANDiscriminator", "NFGANModel", "NFGANNet", "to_network_channels"]
