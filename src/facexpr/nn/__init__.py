"""Neural building blocks shared by the methods in :mod:`facexpr.models` (torch modules, no face knowledge).

* ``backbones/``: the VGG, ResNet and BigConvNet image encoders (variational
  mu/logvar heads) and mirrored decoders, registered in :data:`ARCHITECTURES`
  and built from a :class:`BackboneConfig`.
* ``blending.py``: :class:`MaskHead` and :func:`warp`, to blend a generated image with a photo.
"""

from facexpr.nn.backbones import (
    ARCHITECTURES, LOGVAR_LIMIT, BackboneConfig, BaseDecoder, BaseEncoder, build_decoder, build_encoder,
    register_architecture,
)
from facexpr.nn.blending import MaskHead, warp

__all__ = [
    "ARCHITECTURES", "LOGVAR_LIMIT", "BackboneConfig", "BaseDecoder", "BaseEncoder", "MaskHead", "build_decoder",
    "build_encoder", "register_architecture", "warp",
]
