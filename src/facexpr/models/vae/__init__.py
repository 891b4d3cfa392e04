"""Stage 1: a beta-VAE of neutral frontal faces (VGG, ResNet and BigConvNet encoders with mirrored decoders).

* :class:`VAEConfig` (``config.py``): architecture, size, width multiplier, presets ``cpu`` and ``paper``.
* :class:`BaseEncoder` / :class:`BaseDecoder` and :data:`ARCHITECTURES`: the pluggable networks, re-exported
  from :mod:`facexpr.nn.backbones`.
* :class:`BetaVAE` and the loss terms (``network.py``).
* :class:`VAEModel` (``model.py``): the trained model as a :class:`facexpr.models.FaceModel`.

Training lives in :mod:`facexpr.training` (``train_vae``).
"""

from facexpr.models.vae.config import PRESETS, VAEConfig
from facexpr.models.vae.model import VAEModel
from facexpr.models.vae.network import (
    BetaVAE,
    VAEOutput,
    kl_divergence,
    reparameterize,
    resize_to,
    squared_error,
)
from facexpr.nn.backbones import (
    ARCHITECTURES,
    BaseDecoder,
    BaseEncoder,
    build_decoder,
    build_encoder,
)

__all__ = [
    "ARCHITECTURES", "PRESETS", "BaseDecoder", "BaseEncoder", "BetaVAE", "VAEConfig", "VAEModel", "VAEOutput",
    "build_decoder", "build_encoder", "kl_divergence", "reparameterize", "resize_to", "squared_error",
]
