"""``ComparatorModel``: the emotion-VAE paper's siamese comparator (family ``comparator``): do two aligned crops
show the same expression?

Both crops go through one encoder, the expression CNN's layers up to F100
(:class:`~facexpr.models.emotion.layers.ExpressionCNN`, whose class layer serves
the optional auxiliary expression loss); a small head reads ``|f(a) - f(b)|``
and ``f(a) * f(b)`` (symmetric in a and b) and gives the logit of "same". It
classifies pairs, not crops, and draws no faces, so it is neither a
:class:`~facexpr.models.base.FaceModel` nor a classifier; its folder holds
``config.json`` and ``weights.safetensors`` like every model's and
:func:`load_comparator` reads it without executing code. ``facexpr train fader
--siamese DIR`` uses it frozen as a guidance loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from facexpr.io import BadInputError, as_channels
from facexpr.models.base import (
    WEIGHTS_FILE,
    network_tensors,
    read_model_config,
    read_model_tensors,
    resize_to,
    save_model_folder,
)
from facexpr.models.emotion.config import ComparatorConfig
from facexpr.models.emotion.layers import FEATURES, ExpressionCNN

COMPARATOR_FAMILY = "comparator"


class ComparatorNet(nn.Module):
    """The shared encoder (the expression CNN: trunk - F256 - F100, its class layer for the auxiliary loss) and
    the pair head: [|f(a) - f(b)|, f(a) * f(b)] - F``hidden`` - ReLU - dropout - 1."""

    def __init__(self, config: ComparatorConfig):
        super().__init__()
        self.config = config
        self.encoder = ExpressionCNN(config.channels, config.size, config.pool_stride, len(config.classes),
                                     config.dropout)
        self.head = nn.Sequential(nn.Linear(2 * FEATURES, config.hidden), nn.ReLU(), nn.Dropout(config.dropout),
                                  nn.Linear(config.hidden, 1))

    def features(self, crops: torch.Tensor) -> torch.Tensor:
        """The shared encoder's F100 features (B, 100) of crops (B, C, S, S)."""
        return self.encoder.features(crops)

    def class_logits(self, features: torch.Tensor) -> torch.Tensor:
        """Expression logits (B, K) from F100 features (the auxiliary loss's class layer)."""
        return self.encoder.head(self.encoder.dropout(features))

    def pair_logits(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Logits (B,) of "same expression" from the two sides' features (B, 100) each."""
        return self.head(torch.cat([(first - second).abs(), first * second], 1)).squeeze(1)

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Logits (B,) of "same expression" for crops (B, C, S, S) at the network's size and channels."""
        return self.pair_logits(self.features(first), self.features(second))


class ComparatorModel:
    """A trained comparator: :meth:`same` gives the probability that two crops show one expression, and
    :meth:`logits` the differentiable logits a guidance loss needs (crops of any size and channel count)."""

    family = COMPARATOR_FAMILY

    def __init__(self, config: ComparatorConfig, network: ComparatorNet | None = None):
        self.comparator_config = config
        self.size, self.channels = config.size, config.channels
        self.network = (network if network is not None else ComparatorNet(config)).eval()

    @property
    def classes(self) -> tuple[str, ...]:
        """The expressions of its training pairs."""
        return self.comparator_config.classes

    @property
    def device(self) -> torch.device:
        """Where the network lives."""
        return next(self.network.parameters()).device

    def to(self, device: str | torch.device) -> ComparatorModel:
        """Move the network to ``device`` (in place; returns the model)."""
        self.network.to(device)
        return self

    def _inputs(self, crops: torch.Tensor) -> torch.Tensor:
        """Crops (B, C, H, W) at the network's size and channels, on its device (differentiable)."""
        if crops.ndim != 4:
            raise ValueError(f"expected crops (B, C, H, W), got shape {tuple(crops.shape)}")
        return as_channels(resize_to(crops.float(), self.size), self.channels).to(self.device)

    def logits(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Logits (B,) of "same expression" for two batches of crops (B, C, H, W) in [0, 1]; gradients flow to
        the crops (the network is not switched to training mode)."""
        if first.shape[0] != second.shape[0]:
            raise ValueError(f"expected as many first as second crops, got {first.shape[0]} and {second.shape[0]}")
        return self.network(self._inputs(first), self._inputs(second))

    @torch.no_grad()
    def same(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Probabilities (B,) that each pair of crops (B, C, H, W) in [0, 1] shows one expression, on the
        first crops' device."""
        return torch.sigmoid(self.logits(first, second)).to(first.device)

    def config(self) -> dict[str, Any]:
        """What ``config.json`` holds: the family, size, channels and the training configuration."""
        return {"family": self.family, "size": self.size, "channels": self.channels,
                "comparator": self.comparator_config.to_dict()}

    def tensors(self) -> dict[str, torch.Tensor]:
        """The network's weights."""
        return network_tensors(self.network)

    def save(self, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write ``config.json`` (plus ``extra``, e.g. a training summary) and ``weights.safetensors``."""
        return save_model_folder(directory, {**self.config(), **(extra or {})}, self.tensors())

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> ComparatorModel:
        """Rebuild the network from ``config["comparator"]`` and load the saved weights."""
        comparator_config = ComparatorConfig.from_dict(config["comparator"])
        network = ComparatorNet(comparator_config)
        network.load_state_dict(tensors)
        return cls(comparator_config, network)


def load_comparator(path: str | Path) -> ComparatorModel:
    """A comparator model folder (config.json + weights.safetensors), read without executing code.

    Raises:
        BadInputError: not a model folder, a model of another family, or weights that do not fit.
    """
    config = read_model_config(path)
    if config.get("family") != COMPARATOR_FAMILY:
        raise BadInputError(path, f"a {config.get('family')!r} model, not a comparator (facexpr train comparator)")
    try:
        return ComparatorModel.from_saved(config, read_model_tensors(path))
    except (KeyError, ValueError, RuntimeError) as error:
        raise BadInputError(Path(path) / WEIGHTS_FILE, f"not this comparator's weights "
                                                       f"({str(error).splitlines()[0]})") from None
