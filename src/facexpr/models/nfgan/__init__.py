"""NFGAN, "Normalized Face Image Generation with Perceptron Generative Adversarial Networks" (issue 11).

* :class:`NFGANConfig` (``config.py``): networks and the weights of Algorithm 1's losses; presets ``cpu``
  (default) and ``paper``.
* :class:`NFGANNet`, :class:`NFGANDiscriminator`, :class:`NFGANRefiner` (``networks.py``): encoder + decoder,
  the discriminator, and our on-warp variant's refiner of the geometric model's face (``warp_base.py``).
* :class:`NFGANModel` (``model.py``): the trained encoder-decoder as a :class:`facexpr.models.FaceModel`.

Training lives in :mod:`facexpr.training.nfgan` (``facexpr train nfgan``).
"""

from facexpr.models.nfgan.config import PRESETS, NFGANConfig
from facexpr.models.nfgan.model import NFGANModel, to_network_channels
from facexpr.models.nfgan.networks import (
           NFGANDiscriminator,
           NFGANNet,
           NFGANRefiner,
           build_generator,
)
from facexpr.models.nfgan.warp_base import warp_base

__all__ = ["PRESETS", "NFGANConfig", "NFGANDiscriminator", "NFGANModel", "NFGANNet", "NFGANRefiner",
           "build_generator", "to_network_channels", "warp_base"]
