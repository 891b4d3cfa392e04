"""``VAEModel``: a trained stage-1 beta-VAE of neutral faces as a :class:`FaceModel` (family ``vae``)."""

from __future__ import annotations

from typing import Any

import torch

from facexpr.models.base import FaceModel, register_model, resize_to
from facexpr.models.vae.config import VAEConfig
from facexpr.models.vae.network import BetaVAE


@register_model
class VAEModel(FaceModel):
    """A neutral-face autoencoder: ``predict`` reconstructs the first input through the latent mean.

    As a :class:`FaceModel` its target is the neutral face, so ``facexpr
    evaluate`` measures how well the space of neutral faces it learned
    represents a person; a reconstruction has no strength to dial. ``encode``,
    ``decode`` and ``sample`` expose the latent space that stage 2 builds on
    (a :class:`~facexpr.models.base.SamplingModel`).
    """

    family = "vae"
    dials_strength = False

    def __init__(self, config: VAEConfig, network: BetaVAE | None = None):
        super().__init__(config.size, config.channels, None, "neutral", max_inputs=1)
        self.vae_config = config
        self.network = (network if network is not None else BetaVAE(config)).eval()

    @property
    def name(self) -> str:
        """``vae-<arch>``: the name in evaluation tables."""
        return f"vae-{self.vae_config.arch}"

    @torch.no_grad()
    def encode(self, crops: torch.Tensor) -> torch.Tensor:
        """Latent means (B, D) of crops (B, C, H, W) in [0, 1] (resized to the model's size)."""
        mu, _ = self.network.encoder(resize_to(crops.float(), self.size))
        return mu

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Crops (B, C, S, S) in [0, 1] from latents (B, D)."""
        return self.network.decoder(latents.float()).clamp(0, 1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` new neutral faces decoded from latents drawn from the prior N(0, I) (with ``generator``, a CPU
        one, the same faces on every device)."""
        z = torch.randn(n, self.vae_config.latent_dim, generator=generator)
        return self.decode(z.to(self.device))

    def predict(self, inputs: torch.Tensor, target: str | None = None, strength: float = 1.0) -> torch.Tensor:
        """Reconstruction of each item's first crop: ``decode(mu(x))`` (neutral, at strength 1 only)."""
        self.check_request(target, strength)
        return self.decode(self.encode(inputs[:, 0]))

    def config(self) -> dict[str, Any]:
        """Base config plus the architecture (``vae``)."""
        return {**super().config(), "vae": self.vae_config.to_dict()}

    def tensors(self) -> dict[str, torch.Tensor]:
        """Encoder and decoder weights (and batch-norm statistics)."""
        return dict(self.network.state_dict())

    def _move_tensors(self, device: torch.device) -> None:
        """Move the network."""
        self.network.to(device)

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> "VAEModel":
        """Rebuild the network from ``config["vae"]`` and load the saved weights."""
        vae_config = VAEConfig.from_dict(config["vae"])
        network = BetaVAE(vae_config)
        network.load_state_dict(tensors)
        return cls(vae_config, network)
