"""The multi-image neutralizer network: a shared encoder, permutation-invariant pooling, decoder, blending mask."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from facexpr.models.neutralizer.config import NeutralizerConfig
from facexpr.models.vae.base import build_decoder, build_encoder
from facexpr.models.vae.network import BetaVAE


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


class MaskHead(nn.Module):
    """A small convolutional head: (photo, decoded face) -> mask logit and ``flow`` displacement channels.

    It works at a quarter of the resolution (the regions an expression moves
    are large and smooth) and upsamples bilinearly. Its last bias starts at
    zero, so the first mask is 0.5 everywhere; with ``flow`` its last weights
    too, so the first displacement is 0.
    """

    def __init__(self, channels: int, width: int, flow: bool = False):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(2 * channels, width, 3, stride=2, padding=1), nn.ELU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ELU(),
            nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.ELU(),
            nn.Conv2d(width, 3 if flow else 1, 3, padding=1),
        )
        nn.init.zeros_(self.body[-1].bias)
        if flow:
            nn.init.zeros_(self.body[-1].weight)

    def forward(self, photo: torch.Tensor, decoded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The mask (B, 1, S, S) in (0, 1) and, with ``flow``, the displacement (B, S, S, 2) in grid units."""
        out = self.body(torch.cat([photo, decoded], dim=1))
        out = F.interpolate(out, size=decoded.shape[-2:], mode="bilinear", align_corners=False)
        flow = out[:, 1:].permute(0, 2, 3, 1) if out.shape[1] > 1 else None
        return torch.sigmoid(out[:, :1]), flow


def warp(images: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``images`` (B, C, S, S) resampled at the identity grid plus ``flow`` (B, S, S, 2), in [-1, 1] grid units."""
    identity = torch.eye(2, 3, dtype=images.dtype, device=images.device).expand(images.shape[0], 2, 3)
    grid = F.affine_grid(identity, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid + flow, mode="bilinear", padding_mode="border", align_corners=False)


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
