"""``ExpressionCNNModel``: the paper's trained expression classifier (family ``expression-cnn``), a
:class:`~facexpr.models.base.Classifier` that ``facexpr classify --model DIR`` loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from facexpr.io import as_channels
from facexpr.models.base import network_tensors, resize_to, save_model_folder
from facexpr.models.classifiers import register_classifier
from facexpr.models.emotion.config import ExpressionCNNConfig
from facexpr.models.emotion.layers import ExpressionCNN


def build_cnn(config: ExpressionCNNConfig) -> ExpressionCNN:
    """The classifier network of ``config``."""
    return ExpressionCNN(config.channels, config.size, config.pool_stride, len(config.classes), config.dropout)


@register_classifier
class ExpressionCNNModel:
    """Expression probabilities of aligned crops, and their F100 features (the paper's t-SNE map).

    It classifies only (it draws no faces), so it is no :class:`~facexpr.models.base.FaceModel`; its folder
    holds ``config.json`` and ``weights.safetensors`` as a model's does.
    """

    family = "expression-cnn"

    def __init__(self, config: ExpressionCNNConfig, network: ExpressionCNN | None = None):
        self.cnn_config = config
        self.size, self.channels = config.size, config.channels
        self.network = (network if network is not None else build_cnn(config)).eval()

    @property
    def classes(self) -> tuple[str, ...]:
        """The expressions it tells apart, in column order."""
        return self.cnn_config.classes

    def _inputs(self, crops: torch.Tensor) -> torch.Tensor:
        """Crops (B, C, H, W) at the model's size and channels, on its device."""
        if crops.ndim != 4:
            raise ValueError(f"expected crops (B, C, H, W), got shape {tuple(crops.shape)}")
        device = next(self.network.parameters()).device
        return as_channels(resize_to(crops.float(), self.size), self.channels).to(device)

    @torch.no_grad()
    def classify(self, crops: torch.Tensor) -> torch.Tensor:
        """Probabilities (B, K) of :attr:`classes` for crops (B, C, H, W) in [0, 1], on the crops' device."""
        return torch.softmax(self.network(self._inputs(crops)), 1).to(crops.device)

    @torch.no_grad()
    def features(self, crops: torch.Tensor) -> torch.Tensor:
        """The F100 activations (B, 100) of crops (B, C, H, W) in [0, 1], on the crops' device."""
        return self.network.features(self._inputs(crops)).to(crops.device)

    def config(self) -> dict[str, Any]:
        """What ``config.json`` holds: the family, size, channels and the training configuration."""
        return {"family": self.family, "size": self.size, "channels": self.channels,
                "expression_cnn": self.cnn_config.to_dict()}

    def tensors(self) -> dict[str, torch.Tensor]:
        """The network's weights."""
        return network_tensors(self.network)

    def save(self, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write ``config.json`` (plus ``extra``, e.g. a training summary) and ``weights.safetensors``."""
        return save_model_folder(directory, {**self.config(), **(extra or {})}, self.tensors())

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> ExpressionCNNModel:
        """Rebuild the network from ``config["expression_cnn"]`` and load the saved weights."""
        cnn_config = ExpressionCNNConfig.from_dict(config["expression_cnn"])
        network = build_cnn(cnn_config)
        network.load_state_dict(tensors)
        return cls(cnn_config, network)
