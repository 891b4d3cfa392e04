"""``SSVAEModel``: the emotion-VAE paper's semi-supervised beta-VAE (family ``ssvae``), whose latent is also
the classification layer.

The latent has one axis per expression other than neutral (then ``extra``
free dimensions). Class c's centre is ``axis`` along its own axis, neutral's
the origin, and the class logits are those of the nearest centre: expression
e's is ``axis * z_e - axis^2 / 2``, neutral's 0, so neutral faces sit near the
origin and each expression along its axis. The model classifies crops from
their latent means and synthesizes by moving a face's latent from its own
(expected) class centre towards the target's, keeping its offset from the
centre, the identity. Each class axis can also be traversed (``facexpr sample
--traverse``, :mod:`facexpr.models.emotion.traverse`) between the smallest and
the largest latent mean on it over the training crops, which training records
in the model folder (``axis_ranges`` in config.json).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from facexpr.io import as_channels
from facexpr.models.base import FaceModel, network_tensors, register_model, resize_to
from facexpr.models.emotion.config import MAX_STRENGTH, NEUTRAL, SSVAEConfig
from facexpr.models.emotion.layers import PaperDecoder, paper_encoder
from facexpr.models.emotion.traverse import Traversable


class SSVAENet(nn.Module):
    """Encoder to (mu, logvar), decoder of latents, and the class centres on the latent's axes."""

    def __init__(self, config: SSVAEConfig):
        super().__init__()
        self.config = config
        self.encoder = paper_encoder(config.channels, config.size, config.pool_stride, 2 * config.latent)
        self.decoder = PaperDecoder(config.latent, config.size, config.channels, config.final_dense)
        centres = torch.zeros(len(config.classes), config.latent)
        for axis, expression in enumerate(config.attributes):
            centres[config.classes.index(expression), axis] = config.axis
        self.register_buffer("centres", centres, persistent=False)

    def encode(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent means and log-variances (B, D) of crops (B, C, S, S)."""
        mu, logvar = self.encoder(crops).chunk(2, 1)
        return mu, logvar

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Crops (B, C, S, S) in [0, 1]."""
        return self.decoder(latents)

    def class_logits(self, latents: torch.Tensor) -> torch.Tensor:
        """Logits (B, K) of the nearest class centre: ``z . c - |c|^2 / 2`` (neutral's centre is the origin)."""
        return latents @ self.centres.T - self.centres.pow(2).sum(1) / 2


def kl_to_prior(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL divergence of N(mu, exp(logvar)) from N(0, I) per item (B,)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)


def bce_per_crop(output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
    """Binary cross-entropy per crop (B,): the mean over its pixels or their sum."""
    # augmented crops can stray from [0, 1] by rounding, which binary cross-entropy refuses
    per_pixel = F.binary_cross_entropy(output.clamp(1e-6, 1 - 1e-6), target.clamp(0, 1), reduction="none").flatten(1)
    return per_pixel.mean(1) if reduction == "mean" else per_pixel.sum(1)


@register_model
class SSVAEModel(Traversable, FaceModel):
    """Classifies expressions from the latent and synthesizes them by moving along the class axes: strength
    0 is the reconstruction, 1 moves the face's latent by its target centre minus its own expected centre,
    1.5 further. Neutral by default (``facexpr neutralize``); a latent model with a N(0, I) prior; traverses
    each class axis with the other latent dimensions kept.

    ``axis_ranges`` (expression -> the smallest and largest latent mean on its axis over the training crops)
    sets the traversal's range; without it (folders trained before it was recorded) an axis is traversed
    from neutral's centre (0) to its expression's (``axis``).
    """

    family = "ssvae"

    def __init__(self, config: SSVAEConfig, network: SSVAENet | None = None, target_expression: str | None = None,
                 axis_ranges: Mapping[str, tuple[float, float]] | None = None):
        default = target_expression or NEUTRAL
        if default not in config.classes:
            raise ValueError(f"ssvae cannot produce {default!r} (it knows: {', '.join(config.classes)})")
        super().__init__(config.size, config.channels, None, default, max_inputs=1)
        self.ssvae_config = config
        self.network = (network if network is not None else SSVAENet(config)).eval()
        self.axis_ranges = {e: (float(low), float(high)) for e, (low, high) in (axis_ranges or {}).items()}

    @property
    def target_expressions(self) -> tuple[str, ...]:
        """Every expression of the training data (neutral included)."""
        return self.ssvae_config.classes

    @property
    def classes(self) -> tuple[str, ...]:
        """The expressions the latent classifies (the same list)."""
        return self.ssvae_config.classes

    @property
    def name(self) -> str:
        """``ssvae``, with the latent's size."""
        return f"ssvae-{self.ssvae_config.latent}d"

    def for_target(self, target: str) -> SSVAEModel:
        """The same network producing ``target`` by default.

        Raises:
            ValueError: an expression the model was not trained for (naming the known ones).
        """
        return SSVAEModel(self.ssvae_config, self.network, self.check_request(target), self.axis_ranges).to(self.device)

    def with_axis_ranges(self, axis_ranges: Mapping[str, tuple[float, float]]) -> SSVAEModel:
        """The same network traversing its axes over ``axis_ranges`` (expression -> minimum, maximum)."""
        return SSVAEModel(self.ssvae_config, self.network, self.target_expression, axis_ranges).to(self.device)

    @torch.no_grad()
    def encode(self, crops: torch.Tensor) -> torch.Tensor:
        """Latent means (B, D) of crops (B, C, H, W) in [0, 1] (resized and converted to the model's)."""
        if crops.ndim != 4:
            raise ValueError(f"expected crops (B, C, H, W), got shape {tuple(crops.shape)}")
        return self.network.encode(as_channels(resize_to(crops.float(), self.size), self.channels))[0]

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Crops (B, C, S, S) in [0, 1] decoded from latents (B, D)."""
        return self.network.decode(latents)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` new faces decoded from latents drawn from N(0, I)."""
        latents = torch.randn(n, self.ssvae_config.latent, generator=generator).to(self.device)
        return self.decode(latents)

    @torch.no_grad()
    def classify(self, crops: torch.Tensor) -> torch.Tensor:
        """Probabilities (B, K) of :attr:`classes` from the crops' latent means."""
        return torch.softmax(self.network.class_logits(self.encode(crops)), 1)

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, target: str | None = None, strength: float = 1.0) -> torch.Tensor:
        """The first photo of each item (B, N, C, H, W) with ``target`` at ``strength`` in [0, 1.5].

        Raises:
            ValueError: an unknown target, a strength outside [0, 1.5], or crops of the wrong shape.
        """
        chosen = self.check_request(target, strength)
        if not 0.0 <= strength <= MAX_STRENGTH:
            raise ValueError(f"{self.name} dials strength from 0 to {MAX_STRENGTH:g}, not {strength:g}")
        if inputs.ndim != 5:
            raise ValueError(f"expected crops (B, N, C, H, W), got shape {tuple(inputs.shape)}")
        mu = self.encode(inputs[:, 0])
        centres = self.network.centres
        own = torch.softmax(self.network.class_logits(mu), 1) @ centres
        wanted = centres[self.ssvae_config.classes.index(chosen)]
        return self.decode(mu + strength * (wanted - own)).clamp(0, 1)

    @property
    def traversable(self) -> tuple[str, ...]:
        """The expressions with a latent axis (every class but neutral), in axis order."""
        return self.ssvae_config.attributes

    def traversal_range(self, expression: str) -> tuple[float, float]:
        """The smallest and largest training latent mean on the expression's axis (0 to ``axis`` if unrecorded)."""
        return self.axis_ranges.get(expression, (0.0, self.ssvae_config.axis))

    def latent_attributes(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent means (B, D) and their class-axis coordinates (B, A)."""
        mu = self.encode(crops)
        return mu, mu[:, :len(self.traversable)]

    def decode_attributes(self, rest: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
        """Crops (B, C, S, S) decoded from latents ``rest`` with their class-axis coordinates replaced."""
        return self.decode(torch.cat([attributes, rest[:, attributes.shape[1]:]], 1))

    def config(self) -> dict[str, Any]:
        """Base config plus ``ssvae`` (the training configuration, classes included) and ``axis_ranges`` when
        recorded."""
        ranges = {"axis_ranges": {e: list(r) for e, r in self.axis_ranges.items()}} if self.axis_ranges else {}
        return {**super().config(), "ssvae": self.ssvae_config.to_dict(), **ranges}

    def tensors(self) -> dict[str, torch.Tensor]:
        """The encoder's and decoder's weights."""
        return network_tensors(self.network)

    def _move_tensors(self, device: torch.device) -> None:
        """Move the network."""
        self.network.to(device)

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> SSVAEModel:
        """Rebuild the network from ``config["ssvae"]`` and load the saved weights."""
        ssvae_config = SSVAEConfig.from_dict(config["ssvae"])
        network = SSVAENet(ssvae_config)
        network.load_state_dict(tensors)
        return cls(ssvae_config, network, config.get("target_expression"), config.get("axis_ranges"))
