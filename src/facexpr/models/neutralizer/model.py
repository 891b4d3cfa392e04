"""``NeutralizerModel``: a trained multi-image neutralizer as a :class:`FaceModel` (family ``neutralizer``)."""

from __future__ import annotations

from typing import Any

import torch

from facexpr.models.base import FaceModel, register_model, resize_to
from facexpr.models.neutralizer.config import NeutralizerConfig
from facexpr.models.neutralizer.network import (
    NeutralizerNet,
    NeutralizerOutput,
    pool_features,
)


@register_model
class NeutralizerModel(FaceModel):
    """N expressive photos of a person -> their neutral face; any N from 1 up (``max_inputs`` is the intended N).

    Its decoder produces the neutral face only, so it has no strength to dial.
    ``encode`` and ``decode`` expose its latent space (a
    :class:`~facexpr.models.base.LatentModel`, without a prior to sample).
    """

    family = "neutralizer"
    dials_strength = False

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

    def predict(self, inputs: torch.Tensor, target: str | None = None, strength: float = 1.0) -> torch.Tensor:
        """The neutral face from all N photos of each item (at strength 1 only)."""
        self.check_request(target, strength)
        return self.forward(inputs).image.clamp(0, 1)

    @torch.no_grad()
    def encode(self, crops: torch.Tensor) -> torch.Tensor:
        """Latent means (B, D) of single crops (B, C, H, W) in [0, 1]: the shared encoder pooled over N = 1 and
        read by its mean head, exactly the latent the network computes for one photo."""
        network = self.network
        features = network.encoder.features(resize_to(crops.float(), self.size))
        return network.encoder.mu(pool_features(features.unsqueeze(1), network.config.pooling))

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Crops (B, C, S, S) in [0, 1] from latents (B, D): the decoded face, before any blending with a photo."""
        return self.network.decoder(latents.float()).clamp(0, 1)

    def config(self) -> dict[str, Any]:
        """Base config plus the neutralizer's (``neutralizer``, the architecture nested in it)."""
        return {**super().config(), "neutralizer": self.neutralizer_config.to_dict()}

    def tensors(self) -> dict[str, torch.Tensor]:
        """Encoder, decoder and mask-head weights."""
        return dict(self.network.state_dict())

    def _move_tensors(self, device: torch.device) -> None:
        """Move the network."""
        self.network.to(device)

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> "NeutralizerModel":
        """Rebuild the network from ``config["neutralizer"]`` and load the saved weights."""
        neutralizer_config = NeutralizerConfig.from_dict(config["neutralizer"])
        network = NeutralizerNet(neutralizer_config)
        network.load_state_dict(tensors)
        return cls(neutralizer_config, network)
