"""``NFGANModel``: a trained NFGAN generator as a :class:`FaceModel` (family ``nfgan``, a neutralizer)."""

from __future__ import annotations

from typing import Any

import torch

from facexpr.io import as_channels
from facexpr.models.base import FaceModel, dial_strength, register_model, resize_to
from facexpr.models.geometric import GeometricModel
from facexpr.models.geometric.embedded import (
    embedded_config,
    embedded_tensors,
    split_embedded,
)
from facexpr.models.nfgan.config import NFGANConfig
from facexpr.models.nfgan.networks import NFGANNet, NFGANRefiner, build_generator
from facexpr.models.nfgan.warp_base import warp_base


def to_network_channels(images: torch.Tensor, grey: bool) -> torch.Tensor:
    """(B, C, S, S) crops as the networks see them: luma when ``grey`` and C is 3, grey repeated to RGB when
    not ``grey`` and C is 1, else unchanged."""
    return as_channels(images, 1 if grey else 3)


@register_model
class NFGANModel(FaceModel):
    """A face -> that person's neutral frontal face, from the first photo of each item.

    The published model decodes it from a code of the photo; the on-warp
    variant refines what ``geometric`` (kept inside the model) makes of it.
    ``channels`` is the data's: a grey network (the paper preset) reads the
    luma of colour crops and its grey output is repeated to every channel.
    ``strength`` goes in a straight line from the input (0) to the output (1).
    The published model is a :class:`~facexpr.models.base.LatentModel`
    (:meth:`encode`, :meth:`decode`), so ``facexpr sample --interpolate A B``
    draws the paper's latent traversal (Fig. 7) from one face's code to another's.

    Raises:
        ValueError: an on-warp config without a geometric model.
    """

    family = "nfgan"

    def __init__(self, config: NFGANConfig, channels: int = 3, net: NFGANNet | NFGANRefiner | None = None,
                 geometric: GeometricModel | None = None):
        if config.on_warp and geometric is None:
            raise ValueError("the on-warp variant needs the geometric model it refines")
        super().__init__(config.size, channels, None, "neutral", max_inputs=1)
        self.nfgan_config = config
        self.net = (net if net is not None else build_generator(config)).eval()
        self.geometric = geometric if config.on_warp else None

    @property
    def name(self) -> str:
        """``nfgan-<preset>``, ``-on-warp`` for our variant."""
        return f"nfgan-{self.nfgan_config.preset}" + ("-on-warp" if self.nfgan_config.on_warp else "")

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, target: str | None = None, strength: float = 1.0) -> torch.Tensor:
        """The neutral face (B, C, S, S) of the first photo of each item (B, N, C, H, W), at the model's size."""
        self.check_request(target, strength)
        if inputs.ndim != 5 or inputs.shape[2] != self.channels:
            raise ValueError(f"expected crops (B, N, {self.channels}, H, W), got shape {tuple(inputs.shape)}")
        first = resize_to(inputs[:, 0].float(), self.size)
        grey = self.nfgan_config.grey
        if self.geometric is not None:
            base, mask = warp_base(self.geometric, inputs[:, 0].float(), self.size)
            output = self.net(to_network_channels(base, grey), mask)
        else:
            output = self.net(to_network_channels(first, grey))
        return dial_strength(first, output.clamp(0, 1).expand(-1, self.channels, -1, -1), strength)

    def _check_code(self) -> None:
        """Raise ValueError for the on-warp variant, which has no latent code."""
        if self.geometric is not None:
            raise ValueError("the on-warp variant refines the geometric model's face: it has no latent code")

    @torch.no_grad()
    def encode(self, crops: torch.Tensor) -> torch.Tensor:
        """The codes z (B, latent) of crops (B, C, H, W) in [0, 1] (resized to the model's size).

        Raises:
            ValueError: the on-warp variant (no code).
        """
        self._check_code()
        return self.net.encoder(to_network_channels(resize_to(crops.float(), self.size), self.nfgan_config.grey))

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Faces (B, C, S, S) in [0, 1] decoded from codes (B, latent).

        Raises:
            ValueError: the on-warp variant (no code).
        """
        self._check_code()
        return self.net.decoder(latents).clamp(0, 1).expand(-1, self.channels, -1, -1)

    def config(self) -> dict[str, Any]:
        """Base config plus ``nfgan`` (the training configuration) and, on warp, ``geometric`` (its config)."""
        return {**super().config(), "nfgan": self.nfgan_config.to_dict(), **embedded_config(self.geometric)}

    def tensors(self) -> dict[str, torch.Tensor]:
        """The generator's weights and batch-norm statistics (and, on warp, the geometric model's tensors)."""
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        return {**tensors, **embedded_tensors(self.geometric)}

    def _move_tensors(self, device: torch.device) -> None:
        """Move the network (the geometric model runs on the CPU)."""
        self.net.to(device)

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> NFGANModel:
        """Rebuild the generator from ``config["nfgan"]`` (and the geometric model from ``config["geometric"]``)
        and load the saved weights."""
        nfgan_config = NFGANConfig.from_dict(config["nfgan"])
        net = build_generator(nfgan_config)
        own, geometric = split_embedded(config, tensors)
        net.load_state_dict(own)
        return cls(nfgan_config, int(config["channels"]), net, geometric)
