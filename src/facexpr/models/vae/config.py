"""The stage-1 model's configuration: architecture, sizes and the ``cpu`` / ``paper`` presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from facexpr.models.base import preset_fields
from facexpr.nn.backbones import ARCHITECTURES

#: Preset name -> default crop size, width multiplier and dropout. ``paper`` is
#: the published network at 128 px (for GPU users); ``cpu`` keeps its shape at
#: 1/8 of the channels and fully connected widths and 64 px, so it trains in
#: minutes on a laptop.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"size": 128, "width": 1.0, "dropout": 0.5},
    "cpu": {"size": 64, "width": 0.125, "dropout": 0.2},
}
SIZES = (32, 64, 128, 256)


@dataclass(frozen=True)
class VAEConfig:
    """What builds a beta-VAE's encoder and decoder (JSON-serialisable via :meth:`to_dict`).

    Attributes:
        arch: encoder family, a key of :data:`facexpr.nn.ARCHITECTURES`
            (``vgg``, ``resnet``, ``bigconv``); the decoder mirrors it.
        size: square crop side, a power of two from 32 to 256.
        channels: 3 (RGB) or 1 (grey).
        latent_dim: latent dimension (64 in the thesis).
        width: multiplier of every published channel count and fully connected width.
        dropout: dropout probability in the fully connected layers.
        preset: the preset the other fields' defaults come from: cpu (64 px, 1/8 widths) or paper (128 px,
            published widths; for GPUs).
    """

    arch: str = "resnet"
    size: int = 64
    channels: int = field(default=3, metadata={"cli": False})  # follows the data
    latent_dim: int = 64
    width: float = 0.125
    dropout: float = 0.2
    preset: str = "cpu"

    def __post_init__(self) -> None:
        """Reject sizes and widths the networks cannot be built with (ValueError, one line)."""
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r}; choose from {', '.join(sorted(ARCHITECTURES))}")
        if self.size not in SIZES:
            raise ValueError(f"size must be a power of two from 32 to 256, got {self.size}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be positive, got {self.latent_dim}")
        if not 0 < self.width <= 4:
            raise ValueError(f"width multiplier must be in (0, 4], got {self.width}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @classmethod
    def from_preset(cls, preset: str = "cpu", **overrides: Any) -> "VAEConfig":
        """A config from a preset, with any field overridden (``None`` values keep the preset's).

        Raises:
            ValueError: an unknown preset or an invalid field.
        """
        return cls(**preset_fields(PRESETS, preset, overrides))

    def with_changes(self, **changes: Any) -> "VAEConfig":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for config.json)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VAEConfig":
        """Inverse of :meth:`to_dict`; unknown keys are ignored so older files still load."""
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)
