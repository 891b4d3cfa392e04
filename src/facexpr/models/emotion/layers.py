"""The networks of "Facial Emotion Representation and Reconstruction with VAEs" (issue 13).

The paper's classifier is C8 - C32 - flatten - F256 - F100 - dropout 0.5 - K
(3x3 convolutions of stride 1, "same" padding; 2x2 max-pooling of stride 1,
"same"; ReLU). Its Fader network and semi-supervised VAE encode with the same
trunk and decode with F8192 - TC18,3,2 - TC12,3,2 - TC6,3,2 - TC1,1,1 - F16384
(a 128 x 128 grey face: 8192 = 32 x 16 x 16). Pooling of stride 1 keeps the
full resolution up to the first dense layer (134 M weights at 128 px); the CPU
presets pool with stride 2, which gives that dense layer 8192 inputs at 64 px.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Channels of the trunk's two convolutions.
TRUNK_CHANNELS = (8, 32)
#: Widths of the dense layers after the trunk (F256 - F100).
HIDDEN, FEATURES = 256, 100
#: Channels of the decoder's transposed convolutions after its first dense layer (32 x S/8 x S/8).
DECODER_CHANNELS = (32, 18, 12, 6)
#: How many times the decoder doubles the resolution.
DECODER_DOUBLINGS = 3


class SamePool(nn.Module):
    """2x2 max-pooling with "same" padding: stride 1 keeps the size (the right and bottom edges repeated),
    stride 2 halves it."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled feature maps."""
        if self.stride == 1:
            images = F.pad(images, (0, 1, 0, 1), mode="replicate")
        return F.max_pool2d(images, 2, self.stride)


def trunk_features(size: int, pool_stride: int) -> int:
    """Features the trunk flattens for ``size`` px crops."""
    side = size // pool_stride ** len(TRUNK_CHANNELS)
    return TRUNK_CHANNELS[-1] * side * side


def paper_trunk(channels: int, pool_stride: int) -> nn.Sequential:
    """C8 - pool - C32 - pool - flatten, with ReLU after each convolution."""
    layers: list[nn.Module] = []
    cin = channels
    for cout in TRUNK_CHANNELS:
        layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), SamePool(pool_stride)]
        cin = cout
    return nn.Sequential(*layers, nn.Flatten())


def paper_encoder(channels: int, size: int, pool_stride: int, outputs: int) -> nn.Sequential:
    """The classifier's layers up to F256 and a last dense layer of ``outputs`` (no activation): a latent code."""
    return nn.Sequential(paper_trunk(channels, pool_stride), nn.Linear(trunk_features(size, pool_stride), HIDDEN),
                         nn.ReLU(), nn.Linear(HIDDEN, outputs))


class PaperDecoder(nn.Module):
    """A code (B, D) -> crops (B, C, S, S) in [0, 1]: F(32 S/8 S/8) - TC18,3,2 - TC12,3,2 - TC6,3,2 - TC1,1,1
    (C channels) and, with ``final_dense``, the paper's last dense layer over every pixel (F16384 at 128 px
    grey), then a sigmoid. With ``planes`` > 0, :meth:`forward` also takes that many attributes, which are
    tiled as extra input planes of every transposed convolution (as Fader networks feed the decoder its
    attributes at every layer, so they cannot be drowned by the code).

    Raises:
        ValueError: a size not divisible by 8.
    """

    def __init__(self, inputs: int, size: int, channels: int, final_dense: bool, planes: int = 0):
        super().__init__()
        if size % 2**DECODER_DOUBLINGS:
            raise ValueError(f"the decoder needs a size divisible by 8, got {size}")
        self.side, self.size, self.channels, self.planes = size // 2**DECODER_DOUBLINGS, size, channels, planes
        self.dense = nn.Sequential(nn.Linear(inputs, DECODER_CHANNELS[0] * self.side**2), nn.ReLU())
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(cin + planes, cout, 3, stride=2, padding=1, output_padding=1)
            for cin, cout in zip(DECODER_CHANNELS, DECODER_CHANNELS[1:]))
        self.last = nn.ConvTranspose2d(DECODER_CHANNELS[-1] + planes, channels, 1)
        pixels = channels * size * size
        self.final = nn.Linear(pixels, pixels) if final_dense else None

    def _with_planes(self, maps: torch.Tensor, attributes: torch.Tensor | None) -> torch.Tensor:
        """``maps`` with the attributes tiled as extra planes (unchanged without planes)."""
        if not self.planes:
            return maps
        tiled = attributes.to(maps.dtype)[:, :, None, None].expand(-1, -1, *maps.shape[-2:])
        return torch.cat([maps, tiled], 1)

    def forward(self, code: torch.Tensor, attributes: torch.Tensor | None = None) -> torch.Tensor:
        """Decoded crops (``attributes`` (B, planes) required when the decoder has planes)."""
        if self.planes and (attributes is None or attributes.shape[1] != self.planes):
            raise ValueError(f"this decoder takes {self.planes} attribute(s) as planes")
        maps = self.dense(code).view(-1, DECODER_CHANNELS[0], self.side, self.side)
        for layer in self.up:
            maps = torch.relu(layer(self._with_planes(maps, attributes)))
        out = self.last(self._with_planes(maps, attributes))
        if self.final is not None:
            out = self.final(out.flatten(1)).view(-1, self.channels, self.size, self.size)
        return torch.sigmoid(out)


class ExpressionCNN(nn.Module):
    """The paper's classifier: trunk - F256 - F100 - dropout 0.5 - K logits; :meth:`features` is the F100 layer
    (the paper's t-SNE map)."""

    def __init__(self, channels: int, size: int, pool_stride: int, classes: int, dropout: float = 0.5):
        super().__init__()
        self.body = nn.Sequential(paper_trunk(channels, pool_stride),
                                  nn.Linear(trunk_features(size, pool_stride), HIDDEN), nn.ReLU(),
                                  nn.Linear(HIDDEN, FEATURES), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(FEATURES, classes)

    def features(self, crops: torch.Tensor) -> torch.Tensor:
        """The F100 activations (B, 100)."""
        return self.body(crops)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """Class logits (B, K)."""
        return self.head(self.dropout(self.features(crops)))
