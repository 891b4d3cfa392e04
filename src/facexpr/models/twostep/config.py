"""The two-step CNN's configuration: both encoder-decoders, the classification head, loss, optimizer, presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from facexpr.models.base import preset_fields
from facexpr.nn.generator import ACTIVATIONS, GENERATOR_OUTPUTS, INJECTIONS, SAMPLINGS

LOSSES = ("mse", "smoothl1")
OPTIMIZERS = ("adam", "sgd")

#: Preset name -> the defaults of the fields it sets. ``cpu`` (default): 64 px, narrow networks, Adam, strided
#: sampling, LeakyReLU 0.2 (the report's "refinements"), so it trains in minutes on 2 cores. ``report``: the
#: published training (pooling and nearest upsampling, ReLU, He initialisation, SGD with momentum 0.95 at
#: lr 1e-5, MSE) at the published 128 px, the refinement net's first level 128 channels wide (what the
#: published head's first convolution, 128 -> 32, reads); for GPUs. Depth and max width of the published
#: networks are not given by the report: ours.
PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {"size": 64, "width": 16, "max_width": 128, "depth": 4, "sampling": "strided", "activation": "lrelu",
            "optimizer": "adam", "optimizer_lr": None, "he_init": False, "loss": "mse"},
    "report": {"size": 128, "width": 128, "max_width": 512, "depth": 4, "sampling": "pool", "activation": "relu",
               "optimizer": "sgd", "momentum": 0.95, "optimizer_lr": 1e-5, "he_init": True, "loss": "mse",
               "inject": "planes", "output": "image", "refine": True, "classify_photos": False},
}


@dataclass(frozen=True)
class TwoStepConfig:
    """What builds and trains a two-step CNN (JSON-serialisable via :meth:`to_dict`).

    Step 1 is the image-generation encoder-decoder (photo + one-hot target -> that person with that
    expression); step 2 refines step 1's output. The optional classification head (the report's extension)
    reads the refinement net's first level: Conv width->32 5x5 (padding 2), Conv 32->16 5x5 stride 5,
    Conv 16->1 2x2 stride 2, then a fully connected layer to the K classes. At the published 128 px with a
    first level 128 channels wide this is exactly the report's Conv 128->32, 32->16, 16->1, FC 36->6; at
    other sizes and widths the first convolution reads ``width`` channels and the FC reads the side of the
    last map squared (64 px: 9 inputs; 32 px: 1 input), computed by :func:`head_features`.

    Attributes:
        size: square crop side the networks work at (divisible by 2 ** depth).
        channels: 3 (RGB) or 1 (grey); follows the data.
        classes: the expressions of the one-hot, in its order; set from the training data.
        width: channels after the first halving (both networks); each further level doubles them.
        max_width: channel cap of the deep levels.
        depth: how many times each encoder halves the image.
        inject: where step 1 takes the one-hot: planes (tiled at the input), bottleneck or both. The
            refinement net always takes it at its bottleneck, so that the classification head on its
            first level judges the image and cannot read the requested class off the input planes.
        sampling: strided (strided convolutions down, transposed convolutions up: the report's
            refinement) or pool (max-pooling and nearest upsampling, as the original paper).
        activation: relu or lrelu (LeakyReLU 0.2), after every batch-normalised layer.
        output: image (a sigmoid, as published) or residual (a change added to the network's input: the
            photo for step 1, step 1's output for step 2; ours, one of the issue's fixes).
        refine: train and use step 2, the refinement encoder-decoder (off: step 1 alone).
        classify: the report's extension: a classification head on the refinement net's first level,
            trained with cross-entropy on the target expression (needs refine).
        classify_weight: weight of the head's cross-entropy against the reconstruction loss.
        classify_photos: the head also classifies the target photo itself, with the same label (ours: on
            step 1's blurry outputs alone the expression signal is weak and the head learns little on small
            data; off: the report's, step 1's outputs only).
        loss: reconstruction loss of both steps: mse or smoothl1 (Smooth-L1, beta 1, per pixel).
        optimizer: adam, or sgd with momentum (the paper's).
        momentum: SGD's momentum.
        optimizer_lr: learning rate of both steps when set, instead of the training options' --lr (the
            report preset sets 1e-5 with SGD).
        he_init: He (Kaiming) normal initialisation of every convolution and linear layer (the paper's);
            off: PyTorch's default.
        preset: where the other options' defaults come from: cpu (64 px, narrow, Adam, strided) or report
            (the published training at 128 px: pool, ReLU, He, SGD 0.95 at lr 1e-5; for GPUs).
    """

    size: int = 64
    channels: int = field(default=3, metadata={"cli": False})  # follows the data
    classes: tuple[str, ...] = field(default=(), metadata={"cli": False})  # follows the data
    width: int = 16
    max_width: int = 128
    depth: int = 4
    inject: str = "planes"
    sampling: str = "strided"
    activation: str = "lrelu"
    output: str = "image"
    refine: bool = True
    classify: bool = False
    classify_weight: float = 0.1
    classify_photos: bool = True
    loss: str = "mse"
    optimizer: str = "adam"
    momentum: float = 0.95
    optimizer_lr: float | None = None
    he_init: bool = False
    preset: str = "cpu"

    def __post_init__(self) -> None:
        """Reject unknown choices and networks that cannot be built (ValueError, one line)."""
        object.__setattr__(self, "classes", tuple(self.classes))
        for name, value, allowed in (("inject", self.inject, INJECTIONS), ("sampling", self.sampling, SAMPLINGS),
                                     ("activation", self.activation, ACTIVATIONS),
                                     ("output", self.output, GENERATOR_OUTPUTS), ("loss", self.loss, LOSSES),
                                     ("optimizer", self.optimizer, OPTIMIZERS), ("preset", self.preset, PRESETS)):
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}; choose from {', '.join(allowed)}")
        if self.depth < 1 or self.width < 1 or self.max_width < 1:
            raise ValueError("depth, width and max_width must be at least 1")
        if self.size < 20 or self.size % 2**self.depth:
            raise ValueError(f"size must be at least 20 and divisible by 2 ** depth = {2**self.depth}, got {self.size}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if self.classify and not self.refine:
            raise ValueError("the classification head sits on the refinement net: classify needs refine")
        if self.classify_weight < 0 or not 0 <= self.momentum < 1:
            raise ValueError("classify_weight must not be negative and momentum must be in [0, 1)")
        if self.optimizer_lr is not None and self.optimizer_lr <= 0:
            raise ValueError(f"optimizer_lr must be positive, got {self.optimizer_lr}")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes must differ, got {', '.join(self.classes)}")

    @classmethod
    def from_preset(cls, preset: str = "cpu", **overrides: Any) -> "TwoStepConfig":
        """A config from a preset, with any field overridden (``None`` values keep the preset's).

        Raises:
            ValueError: an unknown preset or an invalid field.
        """
        return cls(**preset_fields(PRESETS, preset, overrides))

    def with_changes(self, **changes: Any) -> "TwoStepConfig":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    @property
    def step1_only(self) -> "TwoStepConfig":
        """This configuration without step 2 (and its head): what step 1 alone is saved as."""
        return replace(self, refine=False, classify=False)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for config.json; ``classes`` as a list)."""
        data = asdict(self)
        data["classes"] = list(self.classes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TwoStepConfig":
        """Inverse of :meth:`to_dict`; unknown keys are ignored so older files still load."""
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        if "classes" in known:
            known["classes"] = tuple(known["classes"])
        return cls(**known)
