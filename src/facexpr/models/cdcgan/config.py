"""The conditional DCGAN's configuration: generator, discriminator, loss weights and the ``report`` / ``fixed``
presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from facexpr.models.base import preset_fields
from facexpr.nn.discriminators import DCGAN_SIZES
from facexpr.nn.generator import GENERATOR_OUTPUTS, INJECTIONS

#: The generator networks: the report's encoder-decoder, or a U-Net (ours).
GENERATORS = ("encoder-decoder", "unet")

#: Preset name -> the fields it sets. ``report`` is the conditional DCGAN as "Generating Facial Expressions"
#: published it: a plain DCGAN discriminator (no class conditioning), L1 + adversarial, the generator's image
#: as output, no expression loss. ``fixed`` (the default) adds what makes the one-hot matter: a projection
#: discriminator (real means "a real face of the *requested* expression") that also calls the input photo with
#: the requested expression fake, and a residual output (the generator changes only what the expression needs).
#: The FER judge's expression loss (``expression``) is an option, off by default. Trained on FRL London + Yale
#: (reconstruction 10, validation people), it made the judge read the requested expression on 93% of the outputs
#: instead of 39%, but by drawing patterns made to fool it (teeth-like stripes, dark brows): the landmark cues
#: moved about as much as without it (lip-corner lift +0.098 vs +0.077, mouth opening +0.23 vs +0.26, real photos
#: +0.090 and +0.30) and the outputs were noisier. Reconstruction 30 (the default) beat 10 on every validation
#: column (FER top-1 0.57 vs 0.39, sharpness 1.40 vs 1.92, PSNR 20.4 vs 18.9 dB); the U-Net generator
#: (``generator="unet"``) at 30 kept the person less often (rank-1 0.89 vs 0.98) and read surprise less (0.30 vs 0.83).
PRESETS: dict[str, dict[str, Any]] = {
    "report": {"projection": False, "mismatch": False, "auxiliary": False, "output": "image", "expression": 0.0},
    "fixed": {"projection": True, "mismatch": True, "auxiliary": False, "output": "residual", "expression": 0.0},
}


@dataclass(frozen=True)
class CDCGANConfig:
    """What builds and trains a conditional DCGAN (JSON-serialisable via :meth:`to_dict`).

    Attributes:
        size: square crop side, a power of two from 32 to 256 (64 on CPUs; the report's 128 on GPUs).
        channels: 3 (RGB) or 1 (grey).
        classes: the expressions of the one-hot, in order (set from the training data).
        generator: encoder-decoder (the report's image-generation network, no skip connections) or unet (ours:
            skip connections carry the person's detail past the bottleneck).
        depth: how many times the generator's encoder halves the image.
        width: channels of the generator after its first halving (doubling per level up to 8x).
        inject: where the one-hot enters the generator: planes (tiled at the input), bottleneck or both.
        output: image (the generator draws the whole face, as published) or residual (a change added
            to the input: only what the expression needs).
        critic_width: channels of the discriminator's first convolution (doubling per layer up to 8x).
        auxiliary: the discriminator also classifies the expression (an AC-GAN head, as the report tried):
            cross-entropy on real targets for it, on fakes for the requested class for the generator.
        projection: the discriminator is conditioned on the target class (projection discriminator):
            real means "a real face of this expression", so ignoring the one-hot is caught.
        mismatch: with projection, the discriminator also learns the *input* photo paired with the requested
            expression as fake (Reed et al.'s matching-aware discriminator): returning the input is penalised.
        reconstruction: weight of the L1 distance to the person's real photo of the target expression.
        adversarial: weight of the generator's non-saturating adversarial loss.
        expression: weight of the FER judge's cross-entropy for the requested expression on the output
            (0: off; targets the judge does not know contribute nothing).
        steps_per_batch: iterations of both players on each batch (the report's remedy: 8 to 16).
        preset: the preset the other fields' defaults come from: fixed (projection discriminator that also
            calls the unchanged input fake, residual output) or report (as published).
    """

    size: int = 64
    channels: int = field(default=3, metadata={"cli": False})  # follows the data
    classes: tuple[str, ...] = field(default=("neutral", "happy", "surprise"), metadata={"cli": False})
    generator: str = "encoder-decoder"
    depth: int = 4
    width: int = 32
    inject: str = "planes"
    output: str = "residual"
    critic_width: int = 32
    auxiliary: bool = False
    projection: bool = True
    mismatch: bool = True
    reconstruction: float = 30.0
    adversarial: float = 1.0
    expression: float = 0.0
    steps_per_batch: int = 1
    preset: str = "fixed"

    def __post_init__(self) -> None:
        """Reject configurations the networks cannot be built with (ValueError, one line)."""
        object.__setattr__(self, "classes", tuple(self.classes))
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose from {', '.join(PRESETS)}")
        if self.size not in DCGAN_SIZES:
            raise ValueError(f"size must be a power of two from 32 to 256, got {self.size}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes must be at least two distinct expressions, got {list(self.classes)}")
        if not 1 <= self.depth or self.size % 2**self.depth:
            raise ValueError(f"depth must be at least 1 and 2**depth divide the size {self.size}, got {self.depth}")
        if self.width < 1 or self.critic_width < 1:
            raise ValueError(f"widths must be positive, got {self.width} and {self.critic_width}")
        if self.generator not in GENERATORS:
            raise ValueError(f"generator must be one of {', '.join(GENERATORS)}, got {self.generator!r}")
        if self.generator == "unet" and self.inject != "planes":
            raise ValueError("the U-Net generator takes the one-hot as input planes (--inject planes)")
        if self.inject not in INJECTIONS:
            raise ValueError(f"inject must be one of {', '.join(INJECTIONS)}, got {self.inject!r}")
        if self.output not in GENERATOR_OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(GENERATOR_OUTPUTS)}, got {self.output!r}")
        if self.mismatch and not self.projection:
            raise ValueError("mismatch needs the projection discriminator (--projection)")
        if min(self.reconstruction, self.adversarial, self.expression) < 0:
            raise ValueError("loss weights must not be negative")
        if self.steps_per_batch < 1:
            raise ValueError(f"steps_per_batch must be at least 1, got {self.steps_per_batch}")

    @classmethod
    def from_preset(cls, preset: str = "fixed", **overrides: Any) -> CDCGANConfig:
        """A config from a preset, with any field overridden (``None`` values keep the preset's).

        Raises:
            ValueError: an unknown preset or an invalid field.
        """
        return cls(**preset_fields(PRESETS, preset, overrides))

    def with_changes(self, **changes: Any) -> CDCGANConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for config.json; ``classes`` as a list)."""
        data = asdict(self)
        data["classes"] = list(self.classes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CDCGANConfig:
        """Inverse of :meth:`to_dict`; unknown keys are ignored so older files still load."""
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        if "classes" in known:
            known["classes"] = tuple(known["classes"])
        return cls(**known)
