"""``CDCGANModel``: a trained conditional DCGAN generator as a :class:`FaceModel` (family ``cdcgan``)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from facexpr.models.base import FaceModel, register_model, resize_to
from facexpr.models.cdcgan.config import CDCGANConfig
from facexpr.nn.generator import ConditionalEncoderDecoder
from facexpr.nn.unet import UNet

#: The generator's channel cap, as a multiple of its first width.
MAX_WIDTH_FACTOR = 8


def build_generator(config: CDCGANConfig) -> ConditionalEncoderDecoder | UNet:
    """The image-generation network of ``config``: image + one-hot in, image out (the encoder-decoder: strided,
    LeakyReLU 0.2; the U-Net: the one-hot as input planes, skip connections)."""
    if config.generator == "unet":
        return UNet(config.channels, depth=config.depth, width=config.width, max_width=MAX_WIDTH_FACTOR * config.width,
                    condition_channels=len(config.classes), output=config.output)
    return ConditionalEncoderDecoder(config.channels, len(config.classes), config.depth, config.width,
                                     MAX_WIDTH_FACTOR * config.width, inject=config.inject, sampling="strided",
                                     activation="lrelu", output=config.output)


@register_model
class CDCGANModel(FaceModel):
    """A face and a target expression -> that person with that expression, one model for every target.

    Only the first photo of each item is used. The generator produces its
    target at full strength only. :meth:`for_target` gives the same model with
    another default target (a :class:`~facexpr.models.base.ConditionalModel`).
    """

    family = "cdcgan"
    dials_strength = False

    def __init__(self, config: CDCGANConfig, generator: ConditionalEncoderDecoder | UNet | None = None,
                 target_expression: str | None = None):
        default = target_expression or ("neutral" if "neutral" in config.classes else config.classes[0])
        if default not in config.classes:
            raise ValueError(f"cdcgan cannot produce {default!r} (it knows: {', '.join(config.classes)})")
        super().__init__(config.size, config.channels, None, default, max_inputs=1)
        self.cdcgan_config = config
        self.generator = (generator if generator is not None else build_generator(config)).eval()

    @property
    def target_expressions(self) -> tuple[str, ...]:
        """The expressions of the training data, in one-hot order."""
        return self.cdcgan_config.classes

    @property
    def name(self) -> str:
        """``cdcgan-<preset>``, with ``-k<steps>`` when several steps per batch were taken."""
        c = self.cdcgan_config
        return f"cdcgan-{c.preset}" + (f"-k{c.steps_per_batch}" if c.steps_per_batch > 1 else "")

    def for_target(self, target: str) -> CDCGANModel:
        """The same generator producing ``target`` by default.

        Raises:
            ValueError: an expression the model was not trained for (naming the known ones).
        """
        return CDCGANModel(self.cdcgan_config, self.generator, self.check_request(target)).to(self.device)

    def onehot(self, target: str, batch: int) -> torch.Tensor:
        """(batch, K) one-hot of ``target`` on the model's device."""
        index = torch.full((batch,), self.cdcgan_config.classes.index(target), dtype=torch.long, device=self.device)
        return F.one_hot(index, len(self.cdcgan_config.classes)).float()

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, target: str | None = None, strength: float = 1.0) -> torch.Tensor:
        """The first photo of each item (B, N, C, H, W) with ``target`` (default :attr:`target_expression`),
        at the model's size, strength 1 only."""
        chosen = self.check_request(target, strength)
        if inputs.ndim != 5 or inputs.shape[2] != self.channels:
            raise ValueError(f"expected crops (B, N, {self.channels}, H, W), got shape {tuple(inputs.shape)}")
        first = resize_to(inputs[:, 0].float(), self.size)
        return self.generator(first, self.onehot(chosen, first.shape[0])).clamp(0, 1)

    def config(self) -> dict[str, Any]:
        """Base config plus ``cdcgan`` (the training configuration, classes included)."""
        return {**super().config(), "cdcgan": self.cdcgan_config.to_dict()}

    def tensors(self) -> dict[str, torch.Tensor]:
        """The generator's weights and batch-norm statistics."""
        return {k: v.detach().cpu().contiguous() for k, v in self.generator.state_dict().items()}

    def _move_tensors(self, device: torch.device) -> None:
        """Move the generator."""
        self.generator.to(device)

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> CDCGANModel:
        """Rebuild the generator from ``config["cdcgan"]`` and load the saved weights."""
        cdcgan_config = CDCGANConfig.from_dict(config["cdcgan"])
        generator = build_generator(cdcgan_config)
        generator.load_state_dict(tensors)
        return cls(cdcgan_config, generator, config.get("target_expression"))
