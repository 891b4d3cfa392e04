"""Image encoder/decoder pairs of the VGG, ResNet and BigConvNet families, registered by name.

* :class:`BaseEncoder` / :class:`BaseDecoder`, :data:`ARCHITECTURES`, :func:`register_architecture`,
  :func:`build_encoder` / :func:`build_decoder` and :class:`BackboneConfig` (``base.py``).
* ``vgg.py``, ``resnet.py``, ``bigconv.py``: the registered architectures.

Importing this package registers all three.
"""

from facexpr.nn.backbones import bigconv, resnet, vgg  # noqa: F401  (register the architectures)
from facexpr.nn.backbones.base import (
    ARCHITECTURES,
    LOGVAR_LIMIT,
    BackboneConfig,
    BaseDecoder,
    BaseEncoder,
    build_decoder,
    build_encoder,
    halvings,
    register_architecture,
    scaled,
    stage_channels,
)

__all__ = [
    "ARCHITECTURES", "LOGVAR_LIMIT", "BackboneConfig", "BaseDecoder", "BaseEncoder", "build_decoder", "build_encoder",
    "halvings", "register_architecture", "scaled", "stage_channels",
]
