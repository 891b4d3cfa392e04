"""The losses of NFGAN's Algorithm 1 that need face knowledge: perceptual, identity and symmetry.

The paper's perceptual network (VGG-Face) and identity network (Light CNN)
are not available offline; here both roles are played by facexpr's frozen,
differentiable judges:

* perceptual features: the FER2013 mini-Xception's first maps (after its
  second convolution and its first two residual blocks, on the judge's grey
  face box) and the early blocks of dlib's face ResNet (after its third and
  fourth residual blocks, on the 150 px face chip);
* identity features: the 128-D dlib descriptor of the same chip.

A user's own perceptual network (``--perceptual-net PATH``, a safetensors file
in the format of :mod:`facexpr.nn.feature_net`, e.g. VGG-Face converted by the
user) replaces the judges' perceptual features; identity stays dlib's.

The chip is cut from a **fixed template** of the 68 landmarks, the mean
landmark shape of the crops the shipped geometric model was fitted on (FRL
London): every crop is aligned on the eyes, so one template serves every face
(output, input and target alike) and no landmark search runs in the loop.
The judges are held outside any module's submodules, so they are neither
trained nor checkpointed.
"""

from __future__ import annotations

from functools import lru_cache

import kornia
import torch
import torch.nn.functional as F

from facexpr.judges.dlib_resnet import (
    INPUT_SCALE,
    DlibFaceResNet,
    extract_face_chips,
    load_dlib_resnet,
)
from facexpr.judges.expression import ExpressionJudge, MiniXception, fer_input
from facexpr.models.geometric import default_model, to_pixels
from facexpr.nn.feature_net import ConvFeatureNet

#: dlib ResNet blocks whose outputs are perceptual features (0-based: after the third and the fourth block).
RESNET_FEATURE_BLOCKS = (2, 3)
#: mini-Xception residual blocks run for perceptual features (the maps after its stem and after each).
FER_FEATURE_BLOCKS = 2


@lru_cache(maxsize=None)
def template_landmarks(size: int) -> torch.Tensor:
    """(68, 2) pixel landmarks of a ``size`` px aligned crop: the shipped geometric model's mean shape."""
    mean = default_model().shape_maps["neutral"].mean.reshape(68, 2)
    return to_pixels(mean, size).float()


def symmetry_loss(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between the Laplacian of (B, C, S, S) images and its left-right mirror:
    zero for a mirror-symmetric face; the Laplacian keeps the loss to edges, not to lighting."""
    edges = kornia.filters.laplacian(images, 3, border_type="reflect")
    return (edges - edges.flip(-1)).abs().mean()


def feature_loss(features: list[torch.Tensor], target: list[torch.Tensor]) -> torch.Tensor:
    """Mean over layers of the mean squared error between two lists of feature maps."""
    return torch.stack([F.mse_loss(a, b) for a, b in zip(features, target, strict=True)]).mean()


def identity_loss(descriptors: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between two (B, 128) descriptor batches."""
    return (descriptors - reference).abs().mean()


class FaceJudges:
    """The frozen FER and identity networks on a device, and what the losses read from them; ``perceptual``,
    a user's feature network, replaces their perceptual features when given."""

    def __init__(self, device: torch.device, perceptual: ConvFeatureNet | None = None):
        self.device = device
        self.fer: MiniXception = ExpressionJudge(device).model
        self.resnet: DlibFaceResNet = load_dlib_resnet(device)
        self.perceptual = perceptual.to(device) if perceptual is not None else None

    def chips(self, images: torch.Tensor) -> torch.Tensor:
        """dlib's 150 px RGB face chips (B, 3, 150, 150) in [0, 1] of (B, C, S, S) crops at the template."""
        points = template_landmarks(images.shape[-1]).to(images.device).expand(len(images), -1, -1)
        return extract_face_chips(images.expand(-1, 3, -1, -1), points)

    def fer_maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The mini-Xception's maps after its stem and its first :data:`FER_FEATURE_BLOCKS` blocks."""
        net = self.fer
        x = F.relu(net.bn1(net.conv1(fer_input(images))))
        maps = [F.relu(net.bn2(net.conv2(x)))]
        for block in net.blocks[:FER_FEATURE_BLOCKS]:
            maps.append(block(maps[-1]))
        return maps

    def resnet_pass(self, chips: torch.Tensor, descriptor: bool) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """The ResNet's maps after :data:`RESNET_FEATURE_BLOCKS` and, with ``descriptor``, the (B, 128)
        descriptor of chips in [0, 1] (the forward of :class:`DlibFaceResNet`, stopped early otherwise)."""
        net = self.resnet
        x = (chips * 255.0 - net.input_mean.view(1, 3, 1, 1)) / INPUT_SCALE
        x = F.max_pool2d(F.relu(net.affine(net.conv(x))), 3, 2)
        maps: list[torch.Tensor] = []
        last = len(net.blocks) if descriptor else max(RESNET_FEATURE_BLOCKS) + 1
        for index, block in enumerate(net.blocks[:last]):
            x = block(x)
            if index in RESNET_FEATURE_BLOCKS:
                maps.append(x)
        return maps, net.fc(x.mean(dim=(2, 3))) if descriptor else None

    def features(self, images: torch.Tensor, descriptor: bool = False) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Perceptual feature maps of (B, C, S, S) crops in [0, 1] (FER's, then the ResNet's, or the user's
        network's) and, with ``descriptor``, their identity descriptors (from the same chips)."""
        if self.perceptual is not None:
            return self.perceptual(images), self.descriptors(images) if descriptor else None
        maps, described = self.resnet_pass(self.chips(images), descriptor)
        return self.fer_maps(images) + maps, described

    def descriptors(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 128) identity descriptors of (B, C, S, S) crops in [0, 1] at the template."""
        return self.resnet(self.chips(images) * 255.0)
