"""Neural building blocks shared by the methods in :mod:`facexpr.models` (torch modules, no face knowledge).

* ``backbones/``: the VGG, ResNet and BigConvNet image encoders (variational
  mu/logvar heads) and mirrored decoders, registered in :data:`ARCHITECTURES`
  and built from a :class:`BackboneConfig`.
* ``blending.py``: :class:`MaskHead` and :func:`warp`, to blend a generated image with a photo.
* ``conditioning.py``: a condition vector tiled as input planes or appended at a bottleneck.
* ``unet.py``: :class:`UNet`, image-to-image with skip connections.
* ``generator.py``: :class:`ConditionalEncoderDecoder`, an image and a one-hot in, that image with the
  one-hot's expression out (the two-step CNN's and the conditional DCGAN's generator).
* ``discriminators.py``: :class:`PatchGAN`, :class:`DCGANDiscriminator` (auxiliary classifier or
  projection conditioning) and the Fader networks' :class:`LatentDiscriminator`.
"""

from facexpr.nn.backbones import (
    ARCHITECTURES,
    LOGVAR_LIMIT,
    BackboneConfig,
    BaseDecoder,
    BaseEncoder,
    build_decoder,
    build_encoder,
    register_architecture,
)
from facexpr.nn.blending import MaskHead, warp
from facexpr.nn.conditioning import concat_planes, inject, tile_planes
from facexpr.nn.discriminators import (
    DCGANDiscriminator,
    DiscriminatorOutput,
    LatentDiscriminator,
    PatchGAN,
)
from facexpr.nn.generator import ConditionalEncoderDecoder, he_initialise
from facexpr.nn.unet import UNet

__all__ = [
    "ARCHITECTURES", "LOGVAR_LIMIT", "BackboneConfig", "BaseDecoder", "BaseEncoder", "ConditionalEncoderDecoder",
    "DCGANDiscriminator", "DiscriminatorOutput", "LatentDiscriminator", "MaskHead", "PatchGAN", "UNet", "build_decoder",
    "build_encoder",
    "concat_planes", "he_initialise", "inject", "register_architecture", "tile_planes", "warp",
]
