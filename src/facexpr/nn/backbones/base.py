"""Pluggable encoder/decoder base classes, the configuration they read and the registry of architectures.

An encoder maps crops (B, C, S, S) to the mean and log-variance of a Gaussian
over the latent space; it is split into :meth:`BaseEncoder.features` (the
convolutional trunk and fully connected layers) and the two linear heads, so
that the multi-image neutralizer can pool the features of N photos before
the heads. A decoder maps latents (B, D) back to crops in [0, 1].
"""

from __future__ import annotations

import abc
import math
from typing import Callable, Protocol

import torch
from torch import nn

#: Bound of the latent log-variance (variances from 4.5e-5 to 2.2e4).
LOGVAR_LIMIT = 10.0

#: arch name -> (encoder class, decoder class); filled by :func:`register_architecture`.
ARCHITECTURES: dict[str, tuple[type["BaseEncoder"], type["BaseDecoder"]]] = {}


class BackboneConfig(Protocol):
    """What a backbone reads from its configuration (a VAE's config has these fields and more).

    Attributes:
        arch: key of :data:`ARCHITECTURES`.
        size: square crop side, a power of two (32 to 256 for the registered architectures).
        channels: image channels (3 RGB, 1 grey).
        latent_dim: latent dimension.
        width: multiplier of every published channel count and fully connected width.
        dropout: dropout probability of the fully connected layers.
    """

    @property
    def arch(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def channels(self) -> int: ...
    @property
    def latent_dim(self) -> int: ...
    @property
    def width(self) -> float: ...
    @property
    def dropout(self) -> float: ...


class BaseEncoder(nn.Module, abc.ABC):
    """Crops (B, C, S, S) -> (mu, logvar), each (B, latent_dim).

    Subclasses build their trunk, then call ``super().__init__`` first and
    implement :meth:`features`, returning (B, feature_dim).
    """

    def __init__(self, feature_dim: int, latent_dim: int):
        super().__init__()
        self.feature_dim = feature_dim
        self.mu = nn.Linear(feature_dim, latent_dim)
        self.logvar = nn.Linear(feature_dim, latent_dim)

    @abc.abstractmethod
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The flat features (B, feature_dim) the latent heads read."""

    def heads(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of the latent Gaussian from (pooled) features.

        The log-variance is clamped to [-LOGVAR_LIMIT, LOGVAR_LIMIT]: with a tiny
        beta (the incremental schedule starts at 0.001) nothing else holds it
        back, and ``exp(logvar)`` overflowed to NaN in a VGG run on real faces.
        """
        return self.mu(features), self.logvar(features).clamp(-LOGVAR_LIMIT, LOGVAR_LIMIT)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode crops to (mu, logvar)."""
        return self.heads(self.features(x))


class BaseDecoder(nn.Module, abc.ABC):
    """Latents (B, latent_dim) -> crops (B, C, S, S) in [0, 1]."""

    @abc.abstractmethod
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Decode latents to crops."""


def register_architecture(name: str) -> Callable[[type[BaseDecoder]], type[BaseDecoder]]:
    """Decorator for a decoder class with an ``encoder_class`` attribute: registers the pair as ``name``."""

    def decorate(decoder: type[BaseDecoder]) -> type[BaseDecoder]:
        ARCHITECTURES[name] = (decoder.encoder_class, decoder)  # type: ignore[attr-defined]
        return decoder

    return decorate


def build_encoder(config: BackboneConfig) -> BaseEncoder:
    """The encoder of ``config.arch`` at the config's size and width."""
    return ARCHITECTURES[config.arch][0](config)


def build_decoder(config: BackboneConfig) -> BaseDecoder:
    """The decoder mirroring ``config.arch``'s encoder."""
    return ARCHITECTURES[config.arch][1](config)


def scaled(channels: int, width: float) -> int:
    """A published channel count or layer width times the width multiplier (at least 4)."""
    return max(4, int(round(channels * width)))


def halvings(size: int, to: int) -> int:
    """How many times ``size`` is halved to reach ``to`` (both powers of two)."""
    return int(math.log2(size // to))


def stage_channels(stages: int, last: int, floor: int) -> list[int]:
    """Published channels of ``stages`` stages: the last has ``last``, each earlier one half, at least ``floor``.

    At 128 px this gives VGG's and ResNet's 64, 128, 256, 512; smaller inputs
    drop the first stages, larger ones repeat the first width.
    """
    return [max(floor, last >> (stages - 1 - i)) for i in range(stages)]
