"""``TwoStepModel``: a trained two-step CNN as a :class:`FaceModel` (family ``twostep``): one model, every target."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from facexpr.models.base import FaceModel, register_model, resize_to
from facexpr.models.twostep.config import TwoStepConfig
from facexpr.models.twostep.network import TwoStepNet, TwoStepOutput


def default_target(classes: tuple[str, ...]) -> str:
    """``neutral`` when the model knows it, else its first class."""
    return "neutral" if "neutral" in classes else classes[0]


@register_model
class TwoStepModel(FaceModel):
    """A photo and a target expression -> that person with that expression (any of :attr:`target_expressions`).

    It uses the first photo of each item (``max_inputs`` 1) and produces its target at full strength only.
    ``for_target`` gives the same model with another default target (``facexpr synthesize --target``);
    ``neutral`` is the default, so ``facexpr neutralize`` works with it. With the classification head,
    :meth:`classify_expression` scores the expression of crops.
    """

    family = "twostep"
    dials_strength = False

    def __init__(self, config: TwoStepConfig, network: TwoStepNet | None = None, target_expression: str | None = None):
        if not config.classes:
            raise ValueError("a two-step model needs its classes (the expressions of the one-hot)")
        super().__init__(config.size, config.channels, None, target_expression or default_target(config.classes), 1)
        if self.target_expression not in config.classes:
            raise ValueError(f"unknown target {self.target_expression!r} (known: {', '.join(config.classes)})")
        self.twostep_config = config
        self.network = (network if network is not None else TwoStepNet(config)).eval()

    @property
    def target_expressions(self) -> tuple[str, ...]:
        """The expressions of the one-hot, in its order."""
        return self.twostep_config.classes

    @property
    def name(self) -> str:
        """``twostep-<loss>`` then ``-refined`` with step 2 and ``-head`` with the classification head."""
        c = self.twostep_config
        return f"twostep-{c.loss}{'-refined' if c.refine else ''}{'-head' if c.classify else ''}"

    def for_target(self, target: str) -> "TwoStepModel":
        """The same model (sharing its network) producing ``target`` by default.

        Raises:
            ValueError: an expression the model was not trained for (naming those it was).
        """
        return TwoStepModel(self.twostep_config, self.network, self.check_request(target)).to(self.device)

    def onehot(self, target: str, batch: int) -> torch.Tensor:
        """The one-hot (batch, K) of ``target`` on the model's device."""
        index = torch.full((batch,), self.twostep_config.classes.index(target), device=self.device)
        return F.one_hot(index, len(self.twostep_config.classes)).float()

    def _crops(self, crops: torch.Tensor) -> torch.Tensor:
        """Crops (B, C, H, W) as the network takes them (float, the model's size); ValueError on wrong channels."""
        if crops.dim() != 4 or crops.shape[1] != self.channels:
            raise ValueError(f"expected crops (B, {self.channels}, H, W), got shape {tuple(crops.shape)}")
        return resize_to(crops.float(), self.size)

    @torch.no_grad()
    def forward(self, inputs: torch.Tensor, target: str | None = None) -> TwoStepOutput:
        """The full output (image, step 1's image, head logits) for the first photo of (B, N, C, H, W) crops."""
        chosen = self.check_request(target)
        if inputs.dim() != 5:
            raise ValueError(f"expected inputs (B, N, C, H, W), got shape {tuple(inputs.shape)}")
        photos = self._crops(inputs[:, 0])
        return self.network(photos, self.onehot(chosen, photos.shape[0]))

    def predict(self, inputs: torch.Tensor, target: str | None = None, strength: float = 1.0) -> torch.Tensor:
        """The first photo of each item with ``target`` (default: :attr:`target_expression`), strength 1 only."""
        self.check_request(target, strength)
        return self.forward(inputs, target).image.clamp(0, 1)

    @torch.no_grad()
    def classify_expression(self, crops: torch.Tensor) -> torch.Tensor:
        """Probabilities (B, K) of :attr:`target_expressions` for crops (B, C, H, W) from the classification head.

        Raises:
            ValueError: the model has no head (trained without ``classify``).
        """
        return self.network.classify(self._crops(crops)).softmax(1)

    def config(self) -> dict[str, Any]:
        """Base config plus the two-step configuration (``twostep``)."""
        return {**super().config(), "twostep": self.twostep_config.to_dict()}

    def tensors(self) -> dict[str, torch.Tensor]:
        """Both networks' and the head's weights."""
        return dict(self.network.state_dict())

    def _move_tensors(self, device: torch.device) -> None:
        """Move the network."""
        self.network.to(device)

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> "TwoStepModel":
        """Rebuild the network from ``config["twostep"]`` and load the saved weights."""
        twostep = TwoStepConfig.from_dict(config["twostep"])
        network = TwoStepNet(twostep)
        network.load_state_dict(tensors)
        return cls(twostep, network, config.get("target_expression"))
