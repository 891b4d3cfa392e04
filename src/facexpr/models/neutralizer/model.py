"""``NeutralizerModel``: a trained multi-image neutralizer as a :class:`FaceModel` (family ``neutralizer``)."""

from __future__ import annotations

import tempfile
from typing import Any, Sequence

import torch

from facexpr.data.pairing import PreparedDataset
from facexpr.models.base import FaceModel, register_model
from facexpr.models.neutralizer.config import NeutralizerConfig
from facexpr.models.neutralizer.network import NeutralizerNet, NeutralizerOutput
from facexpr.models.vae.config import VAEConfig
from facexpr.models.base import resize_to

#: Short defaults of :meth:`NeutralizerModel.fit` (what ``facexpr benchmark`` times).
FIT_EPOCHS = 5
FIT_SHOTS = 3


@register_model
class NeutralizerModel(FaceModel):
    """N expressive photos of a person -> their neutral face; any N from 1 up (``max_inputs`` is the intended N)."""

    family = "neutralizer"

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

    def predict(self, inputs: torch.Tensor, subjects: Sequence[tuple[str, str]] | None = None) -> torch.Tensor:
        """The neutral face from all N photos of each item."""
        return self.forward(inputs).image.clamp(0, 1)

    def config(self) -> dict[str, Any]:
        """Base config plus the neutralizer's (``neutralizer``, the architecture nested in it)."""
        return {**super().config(), "neutralizer": self.neutralizer_config.to_dict()}

    def tensors(self) -> dict[str, torch.Tensor]:
        """Encoder, decoder and mask-head weights."""
        return dict(self.network.state_dict())

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> "NeutralizerModel":
        """Rebuild the network from ``config["neutralizer"]`` and load the saved weights."""
        neutralizer_config = NeutralizerConfig.from_dict(config["neutralizer"])
        network = NeutralizerNet(neutralizer_config)
        network.load_state_dict(tensors)
        return cls(neutralizer_config, network)

    @classmethod
    def fit(cls, prepared: PreparedDataset, split: str | None = "train", epochs: int = FIT_EPOCHS) -> "NeutralizerModel":
        """Train from scratch (CPU preset, blending on, 3 shots) for a few epochs; quiet, in a temporary folder."""
        from facexpr.training import TrainOptions, train_neutralizer

        first = prepared.load(prepared.records[0])
        vae = VAEConfig.from_preset("cpu", size=first.shape[-1], channels=first.shape[0])
        config = NeutralizerConfig(vae=vae, mode="scratch", max_inputs=FIT_SHOTS)
        options = TrainOptions(epochs=epochs, progress=False, logs=False)
        with tempfile.TemporaryDirectory() as folder:
            result = train_neutralizer(prepared, folder, config, None, options, shots=FIT_SHOTS, split=split or "train")
        assert result.model is not None  # a single-process run is always rank 0
        return result.model
