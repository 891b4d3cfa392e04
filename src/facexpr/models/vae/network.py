"""The beta-VAE network and its loss terms: reparameterisation, KL divergence, reconstruction error."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from facexpr.models.base import resize_to  # noqa: F401  (re-exported: part of the vae package's API)
from facexpr.models.vae.config import VAEConfig
from facexpr.nn.backbones import build_decoder, build_encoder


@dataclass
class VAEOutput:
    """One forward pass: reconstruction (B, C, S, S), latent mean/log-variance and the latent used (B, D)."""

    reconstruction: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)``: a differentiable sample of the posterior."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample (B,), summed over the latent dimensions (closed form)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)


def squared_error(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum of squared pixel errors per sample (B,): the reconstruction term, on the scale of the KL term."""
    return (output - target).pow(2).flatten(1).sum(1)


class BetaVAE(nn.Module):
    """Encoder and mirrored decoder of one architecture; samples the latent in training, uses the mean otherwise."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        self.encoder = build_encoder(config)
        self.decoder = build_decoder(config)

    def forward(self, x: torch.Tensor, sample: bool | None = None) -> VAEOutput:
        """Encode, draw ``z`` (when ``sample``, by default in training mode) and decode."""
        mu, logvar = self.encoder(x)
        z = reparameterize(mu, logvar) if (self.training if sample is None else sample) else mu
        return VAEOutput(self.decoder(z), mu, logvar, z)
