"""``NFGANModel``: a trained NFGAN encoder-decoder as a :class:`FaceModel` (family ``nfgan``, a neutralizer)."""

from __future__ import annotations

from typing import Any

import torch

from facexpr.models.base import FaceModel, dial_strength, register_model, resize_to
from facexpr.models.nfgan.config import NFGANConfig
from facexpr.models.nfgan.networks import NFGANNet

#: ITU-R BT.601 luma weights of R, G, B (what a grey network sees of a colour crop).
LUMA = (0.299, 0.587, 0.114)


def to_network_channels(images: torch.Tensor, grey: bool) -> torch.Tensor:
    """(B, C, S, S) crops as the networks see them: luma when ``grey`` and C is 3, grey repeated to RGB when
    not ``grey`` and C is 1, else unchanged."""
    if grey and images.shape[1] == 3:
        return (images * images.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    if not grey and images.shape[1] == 1:
        return images.expand(-1, 3, -1, -1)
    return images


@register_model
class NFGANModel(FaceModel):
    """A face -> that person's neutral frontal face, decoded from a code of the first photo.

    ``channels`` is the data's: a grey network (the paper preset) reads the
    luma of colour crops and its grey output is repeated to every channel.
    ``strength`` goes in a straight line from the input (0) to the output (1).
    """

    family = "nfgan"

    def __init__(self, config: NFGANConfig, channels: int = 3, net: NFGANNet | None = None):
        super().__init__(config.size, channels, None, "neutral", max_inputs=1)
        self.nfgan_config = config
        self.net = (net if net is not None else NFGANNet(config)).eval()

    @property
    def name(self) -> str:
        """``nfgan-<preset>``."""
        return f"nfgan-{self.nfgan_config.preset}"

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, target: str | None = None, strength: float = 1.0) -> torch.Tensor:
        """The neutral face (B, C, S, S) of the first photo of each item (B, N, C, H, W), at the model's size."""
        self.check_request(target, strength)
        if inputs.ndim != 5 or inputs.shape[2] != self.channels:
            raise ValueError(f"expected crops (B, N, {self.channels}, H, W), got shape {tuple(inputs.shape)}")
        first = resize_to(inputs[:, 0].float(), self.size)
        output = self.net(to_network_channels(first, self.nfgan_config.grey)).clamp(0, 1)
        return dial_strength(first, output.expand(-1, self.channels, -1, -1), strength)

    def config(self) -> dict[str, Any]:
        """Base config plus ``nfgan`` (the training configuration)."""
        return {**super().config(), "nfgan": self.nfgan_config.to_dict()}

    def tensors(self) -> dict[str, torch.Tensor]:
        """The encoder's and decoder's weights and batch-norm statistics."""
        return {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}

    def _move_tensors(self, device: torch.device) -> None:
        """Move the network."""
        self.net.to(device)

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> NFGANModel:
        """Rebuild the network from ``config["nfgan"]`` and load the saved weights."""
        nfgan_config = NFGANConfig.from_dict(config["nfgan"])
        net = NFGANNet(nfgan_config)
        net.load_state_dict(tensors)
        return cls(nfgan_config, int(config["channels"]), net)
