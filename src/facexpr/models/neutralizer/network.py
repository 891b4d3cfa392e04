"""The multi-image neutralizer network: a shared encoder, permutation-invariant pooling, decoder, blending mask."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from facexpr.models.neutralizer.config import NeutralizerConfig
from facexpr.models.vae.network import BetaVAE
from facexpr.nn import MaskHead, build_decoder, build_encoder, warp


@dataclass
class NeutralizerOutput:
    """One forward pass: the output face, the decoded face, the blending mask (None without blending), latent V_R."""

    image: torch.Tensor
    decoded: torch.Tensor
    mask: torch.Tensor | None
    latent: torch.Tensor


def pool_features(features: torch.Tensor, pooling: str) -> torch.Tensor:
    """Combine (B, N, F) features over N, whatever N is and in whatever order: mean, max or their sum."""
    if pooling == "mean":
        return features.mean(1)
    if pooling == "max":
        return features.amax(1)
    return features.mean(1) + features.amax(1)


class NeutralizerNet(nn.Module):
    """N photos of a subject (B, N, C, S, S) -> their neutral face (B, C, S, S).

    One encoder runs on every photo (weight sharing); its features are pooled
    over N before the latent head (the encoder's mean head; its log-variance
    head is unused and frozen so stage-1 encoders load as they are), and the
    decoder turns the latent V_R into a face. With ``blend``, the
    :class:`MaskHead` mixes it with the mean of the photos; with
    ``head="flow"`` each photo is first warped towards the neutral face by its
    own displacement field, and the masks and warped photos are averaged.
    """

    def __init__(self, config: NeutralizerConfig):
        super().__init__()
        self.config = config
        self.encoder = build_encoder(config.vae)
        self.encoder.logvar.requires_grad_(False)
        self.decoder = build_decoder(config.vae)
        self.mask_head = MaskHead(config.vae.channels, config.mask_width, config.head == "flow") if config.blend else None
        if config.frozen:
            # Frozen means its batch-norm statistics too: eval mode from the start, since Lightning keeps
            # the modes a module was built with instead of calling train() on it.
            self.decoder.requires_grad_(False).eval()

    def attach_stage1(self, vae: BetaVAE) -> None:
        """Copy the stage-1 decoder (and, with ``init_encoder``, its encoder) into this network."""
        self.decoder.load_state_dict(vae.decoder.state_dict())
        if self.config.init_encoder:
            self.encoder.load_state_dict(vae.encoder.state_dict())

    def train(self, mode: bool = True) -> "NeutralizerNet":
        """Switch modes; a frozen decoder always stays in eval mode (no dropout, fixed batch-norm statistics)."""
        super().train(mode)
        if self.config.frozen:
            self.decoder.eval()
        return self

    def forward(self, inputs: torch.Tensor) -> NeutralizerOutput:
        """Encode every photo, pool over N, decode, blend."""
        batch, shots = inputs.shape[:2]
        features = self.encoder.features(inputs.flatten(0, 1)).view(batch, shots, -1)
        latent = self.encoder.mu(pool_features(features, self.config.pooling))
        decoded = self.decoder(latent)
        if self.mask_head is None:
            return NeutralizerOutput(decoded, decoded, None, latent)
        if self.config.head == "flow":
            photos = inputs.flatten(0, 1)
            mask, flow = self.mask_head(photos, decoded.repeat_interleave(shots, 0))
            mask = mask.view(batch, shots, *mask.shape[1:]).mean(1)
            warped = warp(photos, flow).view(inputs.shape).mean(1)
            return NeutralizerOutput(mask * decoded + (1 - mask) * warped, decoded, mask, latent)
        mean_input = inputs.mean(1)
        mask, _ = self.mask_head(mean_input, decoded)
        return NeutralizerOutput(mask * decoded + (1 - mask) * mean_input, decoded, mask, latent)
