"""GAN discriminators: PatchGAN (pix2pix), DCGAN with optional class conditioning, and a latent discriminator.

All return logits (no sigmoid), for ``binary_cross_entropy_with_logits`` or
``cross_entropy``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

DCGAN_SIZES = (32, 64, 128, 256)
#: Side of the last DCGAN feature map, read by the output layers.
DCGAN_FEATURE_SIDE = 4


def _down(cin: int, cout: int, stride: int, batch_norm: bool) -> list[nn.Module]:
    """A 4x4 convolution (padding 1), optional batch norm, LeakyReLU 0.2."""
    norm = [nn.BatchNorm2d(cout)] if batch_norm else []
    return [nn.Conv2d(cin, cout, 4, stride=stride, padding=1, bias=not batch_norm), *norm, nn.LeakyReLU(0.2)]


class PatchGAN(nn.Module):
    """Images (B, C, H, W) -> a map of real/fake logits (B, 1, H', W'), one per overlapping patch.

    pix2pix's discriminator: ``n_layers`` 4x4 stride-2 convolutions (channels
    doubling from ``width``, at most 8x), one 4x4 stride-1 convolution and a
    4x4 stride-1 output convolution. It judges local texture only: with
    ``n_layers=3`` every logit sees a 70x70 patch. For a conditional GAN, feed
    the input and output images concatenated (``in_channels`` = both).

    Args:
        in_channels: input channels.
        width: channels of the first convolution.
        n_layers: stride-2 convolutions (the patch grows with them: 16, 34, 70, 142 px for 1 to 4).
        batch_norm: batch norm after every convolution but the first and the output.
    """

    def __init__(self, in_channels: int = 3, width: int = 64, n_layers: int = 3, batch_norm: bool = True):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}")
        channels = [width * min(2**i, 8) for i in range(n_layers + 1)]
        layers = [nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        for i in range(1, n_layers):
            layers += _down(channels[i - 1], channels[i], 2, batch_norm)
        layers += _down(channels[n_layers - 1], channels[n_layers], 1, batch_norm)
        layers.append(nn.Conv2d(channels[n_layers], 1, 4, stride=1, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Patch logits (B, 1, H', W')."""
        return self.body(images)


@dataclass
class DiscriminatorOutput:
    """A DCGAN discriminator's verdict: real/fake logits (B,) and, with an auxiliary head, class logits (B, K)."""

    logit: torch.Tensor
    class_logits: torch.Tensor | None


class DCGANDiscriminator(nn.Module):
    """Images (B, C, S, S) -> one real/fake logit each, optionally class-aware.

    DCGAN's discriminator: 4x4 stride-2 convolutions (batch norm but on the
    first, LeakyReLU 0.2) halve the image down to 4x4, channels doubling from
    ``width`` up to ``max_width``; a linear layer over the flat 4x4 map (the
    published 4x4 "valid" convolution) gives the logit.

    Two optional ways to bring in a class of ``classes``:

    * ``auxiliary``: an AC-GAN head also predicts the class from the same
      features (train it with cross-entropy on real images, and on fakes for
      the generator).
    * ``projection``: the logit gets ``<embedding(label), features>`` (Miyato
      and Koyama's projection discriminator), so "real" means "a real image
      of this class"; ``forward`` then needs the labels.

    Args:
        size: image side, a power of two from 32 to 256.
        in_channels: image channels (plus any tiled condition planes).
        width: channels of the first convolution.
        max_width: channel cap of the deep layers.
        classes: number of classes K for ``auxiliary`` / ``projection``.
        auxiliary: add the class-prediction head.
        projection: add the projection term.
        batch_norm: batch norm after every convolution but the first.
    """

    def __init__(self, size: int = 64, in_channels: int = 3, width: int = 64, max_width: int = 512, classes: int = 0,
                 auxiliary: bool = False, projection: bool = False, batch_norm: bool = True):
        super().__init__()
        if size not in DCGAN_SIZES:
            raise ValueError(f"size must be a power of two from 32 to 256, got {size}")
        if (auxiliary or projection) and classes < 2:
            raise ValueError(f"a class-aware discriminator needs classes >= 2, got {classes}")
        layers = [nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        cin, side = width, size // 2
        while side > DCGAN_FEATURE_SIDE:
            cout = min(2 * cin, max_width)
            layers += _down(cin, cout, 2, batch_norm)
            cin, side = cout, side // 2
        self.trunk = nn.Sequential(*layers, nn.Flatten())
        self.feature_dim = cin * DCGAN_FEATURE_SIDE**2
        self.logit = nn.Linear(self.feature_dim, 1)
        self.classifier = nn.Linear(self.feature_dim, classes) if auxiliary else None
        self.embedding = nn.Embedding(classes, self.feature_dim) if projection else None

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> DiscriminatorOutput:
        """Logits for ``images``; ``labels`` (B,) class indices, required with ``projection``."""
        features = self.trunk(images)
        logit = self.logit(features).squeeze(1)
        if self.embedding is not None:
            if labels is None:
                raise ValueError("a projection discriminator needs the labels")
            logit = logit + (self.embedding(labels) * features).sum(1)
        class_logits = self.classifier(features) if self.classifier is not None else None
        return DiscriminatorOutput(logit, class_logits)


class LatentDiscriminator(nn.Module):
    """Latent codes (B, latent_dim) -> attribute logits (B, K), as in Fader networks.

    An MLP (LeakyReLU 0.2, dropout) that tries to read the attribute from an
    encoder's code; the encoder is trained to fool it, so that the code holds
    no attribute and the decoder must take it from its condition. A feature
    map code is flattened first (``latent_dim`` is then C * H * W).

    Args:
        latent_dim: features of one code.
        classes: logits K (attribute classes; one per binary attribute with a sigmoid loss).
        hidden: width of the hidden layers.
        layers: hidden layers.
        dropout: dropout after every hidden layer.
    """

    def __init__(self, latent_dim: int, classes: int, hidden: int = 512, layers: int = 2, dropout: float = 0.3):
        super().__init__()
        blocks: list[nn.Module] = [nn.Flatten()]
        cin = latent_dim
        for _ in range(layers):
            blocks += [nn.Linear(cin, hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout)]
            cin = hidden
        blocks.append(nn.Linear(cin, classes))
        self.body = nn.Sequential(*blocks)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """Attribute logits (B, K)."""
        return self.body(latent)
