"""``NeutralizerModel``: a trained multi-image neutralizer as a :class:`FaceModel` (family ``neutralizer``)."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from facexpr.models.base import FaceModel, register_model, resize_to
from facexpr.models.neutralizer.config import NeutralizerConfig
from facexpr.models.neutralizer.network import NeutralizerNet, NeutralizerOutput


@register_model
class NeutralizerModel(FaceModel):
    """N expressive photos of a person -> their neutral face; any N from 1 up (``max_inputs`` is the intended N)."""

    family = "neutralizer"

    def __init__(self, config: NeutralizerConfig, network: NeutralizerNet | None = None):
        super().__init__(config.vae.size, config.vae.channels, None, "neutral", max_inputs=config.max_inputs)
        self.neutralizer_config = config
        self.network = (network if network is not None else NeutralizerNet(config)).eval()

    @property
    def name(self) -> str:
        """``neutralizer-<arch>-<mode>``, then ``-flow`` or ``-blend`` with the flow or mask-only blending head."""
        c = self.neutralizer_config
        return f"neutralizer-{c.vae.arch}-{c.mode}{('-flow' if c.head == 'flow' else '-blend') if c.blend else ''}"

    @torch.no_grad()
    def forward(self, inputs: torch.Tensor) -> NeutralizerOutput:
        """The full output (image, decoded face, mask, latent) for (B, N, C, H, W) crops in [0, 1]."""
        return self.network(resize_to(inputs.float(), self.size))

    def predict(self, inputs: torch.Tensor, subjects: Sequence[tuple[str, str]] | None = None) -> torch.Tensor:
        """The neutral face from all N photos of each item."""
        return self.forward(inputs).image.clamp(0, 1)

    def config(self) -> dict[str, Any]:
        """Base config plus the neutralizer's (``neutralizer``, the architecture nested in it)."""
        return {**super().config(), "neutralizer": self.neutralizer_config.to_dict()}

    def tensors(self) -> dict[str, torch.Tensor]:
        """Encoder, decoder and mask-head weights."""
        return dict(self.network.state_dict())

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> "NeutralizerModel":
        """Rebuild the network from ``config["neutralizer"]`` and load the saved weights."""
        neutralizer_config = NeutralizerConfig.from_dict(config["neutralizer"])
        network = NeutralizerNet(neutralizer_config)
        network.load_state_dict(tensors)
        return cls(neutralizer_config, network)
