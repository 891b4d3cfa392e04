"""Configurations of the emotion-VAE paper's families: the expression CNN, the Fader network, the
semi-supervised beta-VAE and the siamese comparator, each with a ``paper`` preset (128 px grey, as published) and a ``cpu`` preset
(64 px RGB, pooling of stride 2: trains in minutes on two cores)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar

from facexpr.data.records import normalize_expression
from facexpr.models.base import preset_fields

#: Fields every family's presets set.
BASE_PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {"size": 64, "pool_stride": 2, "grey": False},
    "paper": {"size": 128, "pool_stride": 1, "grey": True},
}
#: The generative families' presets: the paper's decoder ends with a dense layer over every pixel.
GENERATIVE_PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {**BASE_PRESETS["cpu"], "final_dense": False},
    "paper": {**BASE_PRESETS["paper"], "final_dense": True},
}
#: The Fader network's presets: on CPUs its decoder also gets y at every layer, and its output starts from the
#: geometric model's face (on warp).
FADER_PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {**GENERATIVE_PRESETS["cpu"], "every_layer": True, "on_warp": True},
    "paper": {**GENERATIVE_PRESETS["paper"], "every_layer": False, "on_warp": False},
}
#: The Fader network's training conditions in the paper: reconstruction (L2) only; L2 and the multiclass
#: emotion loss on the latent; L2, multiclass and the adversarial latent discriminator.
FADER_CONDITIONS = ("l2", "multiclass", "adversarial")
#: How the SS-VAE's reconstruction BCE is reduced over a crop's pixels.
REDUCTIONS = ("mean", "sum")
NEUTRAL = "neutral"
#: The largest strength the generative families dial an expression to (an exaggerated one).
MAX_STRENGTH = 1.5
#: What ``--siamese`` calls the FER2013 judge used as the comparator.
FER_GUIDE = "fer"


@dataclass(frozen=True)
class EmotionConfig:
    """Fields and behaviour shared by the three families (see each subclass for the documented fields)."""

    presets: ClassVar[dict[str, dict[str, Any]]] = BASE_PRESETS

    size: int = 64
    channels: int = field(default=3, metadata={"cli": False})  # follows the data, 1 with grey
    classes: tuple[str, ...] = field(default=("neutral", "happy"), metadata={"cli": False})  # from the data
    pool_stride: int = 2
    grey: bool = False
    preset: str = "cpu"

    def __post_init__(self) -> None:
        """Reject configurations the networks cannot be built with (ValueError, one line)."""
        object.__setattr__(self, "classes", tuple(normalize_expression(c) for c in self.classes))
        if self.grey:
            object.__setattr__(self, "channels", 1)
        if self.preset not in self.presets:
            raise ValueError(f"unknown preset {self.preset!r}; choose from {', '.join(self.presets)}")
        if self.size < 8 or self.size % 8:
            raise ValueError(f"size must be a positive multiple of 8, got {self.size}")
        if self.pool_stride not in (1, 2):
            raise ValueError(f"pool_stride must be 1 (the paper's) or 2, got {self.pool_stride}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes must be at least two distinct expressions, got {list(self.classes)}")

    @classmethod
    def from_preset(cls, preset: str = "cpu", **overrides: Any) -> Any:
        """A config from a preset, with any field overridden (``None`` values keep the preset's).

        Raises:
            ValueError: an unknown preset or an invalid field.
        """
        return cls(**preset_fields(cls.presets, preset, overrides))

    def with_changes(self, **changes: Any) -> Any:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def for_data(self, channels: int, classes: tuple[str, ...]) -> Any:
        """The config for crops of ``channels`` channels (1 with ``grey`` whatever the data) and these classes."""
        return self.with_changes(channels=channels, classes=tuple(classes))

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for config.json; ``classes`` as a list)."""
        data = asdict(self)
        data["classes"] = list(self.classes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """Inverse of :meth:`to_dict`; unknown keys are ignored so older files still load."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class ExpressionCNNConfig(EmotionConfig):
    """The paper's expression classifier (JSON-serialisable via :meth:`to_dict`).

    Attributes:
        size: square crop side, a multiple of 8 (the paper's 128; 64 on CPUs).
        channels: 3 (RGB) or 1 (grey), from the data (1 with grey).
        classes: the expressions it tells apart, in order (set from the training data).
        pool_stride: stride of the 2x2 max-pooling: 1 as published (full resolution into F256), 2 on CPUs.
        grey: train and classify on grey crops, as the paper (RGB data is converted).
        dropout: dropout before the class layer (the paper's 0.5).
        preset: the preset the other fields' defaults come from: cpu (64 px RGB, pooling stride 2) or paper
            (128 px grey, stride 1).
    """

    dropout: float = 0.5

    def __post_init__(self) -> None:
        """Validate the shared fields and the dropout."""
        super().__post_init__()
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class FaderConfig(EmotionConfig):
    """The Fader network of the paper: an encoder as the classifier's, a decoder given (z, y), a latent
    discriminator (JSON-serialisable via :meth:`to_dict`).

    Attributes:
        size: square crop side, a multiple of 8 (the paper's 128; 64 on CPUs).
        channels: 3 (RGB) or 1 (grey), from the data (1 with grey).
        classes: the expressions, neutral among them (set from the training data); y holds one intensity
            per expression other than neutral (neutral: all zero).
        pool_stride: stride of the encoder's 2x2 max-pooling: 1 as published, 2 on CPUs.
        grey: train and synthesize grey crops, as the paper (RGB data is converted).
        final_dense: the decoder's last dense layer over every pixel (the paper's F16384; 268 M weights at
            128 px grey, so off on CPUs).
        every_layer: the decoder also gets y as planes at each transposed convolution (as Fader networks do;
            the paper's decoder gets (z, y) at its input only).
        latent: size of the code z (the classifier's F100).
        condition: the paper's training condition: l2 (reconstruction only), multiclass (and the emotion
            cross-entropy of a linear classifier on z), adversarial (and the encoder fooling the latent
            discriminator, which tells emotion from no emotion).
        reconstruction: weight of the reconstruction's mean squared error per pixel.
        multiclass: weight of the latent classifier's cross-entropy (multiclass and adversarial conditions).
        adversarial: final weight lambda of the encoder's adversarial loss (the paper's 0.1).
        ramp_steps: lambda grows linearly from 0 to its final weight over this many steps (the Fader
            paper's schedule; 0: at once).
        critic_hidden: width of the latent discriminator's two hidden layers.
        siamese: siamese guidance: a comparator model folder (facexpr train comparator) or fer (the FER2013
            judge: "same" is the probability that both crops get the same class); the encoder-decoder also
            minimises -log p(same) of its reconstruction and another training crop of the input's expression
            (another person when there is one); the comparator stays frozen. Unset: no guidance.
        lambda_siamese: weight of the siamese guidance (0.01, a nudge: -log p(same) of real same-expression
            pairs of FRL London + Yale is 1.2 under the FER judge, 0.17 under a trained comparator, so the term
            is at most about the reconstruction's mean squared error, 0.01 to 0.05 per pixel).
        on_warp: ours (the cpu preset's): the output is the geometric model's face for the target at the
            strength (the person's own pixels moved to the predicted landmarks, then its appearance step) plus
            the decoder's change of appearance (decode(z, y) - decode(z, y_input)), carried by the same warp and
            added inside the face mask, at the geometric model's resolution; the networks train as without it.
            Off: the decoder's face (the paper's; False for configs saved before the option existed).
        warp_model: the geometric model folder the on-warp output starts from; empty: one fitted on the Fader's
            own training crops (``facexpr train geometric``'s defaults without its refiner, seconds: the
            decoder's change plays that part), so it knows every expression of the data and no other people. Its weights are saved in the Fader's folder.
        preset: the preset the other fields' defaults come from: cpu (64 px RGB, pooling stride 2, y at every
            decoder layer, on warp) or paper (128 px grey, stride 1, the final dense layer, y at the input only,
            the decoder's face).
    """

    presets: ClassVar[dict[str, dict[str, Any]]] = FADER_PRESETS

    final_dense: bool = False
    every_layer: bool = True
    latent: int = 100
    condition: str = "adversarial"
    reconstruction: float = 1.0
    multiclass: float = 1.0
    adversarial: float = 0.1
    ramp_steps: int = 500
    critic_hidden: int = 256
    siamese: str | None = None
    lambda_siamese: float = 0.01
    on_warp: bool = False
    warp_model: str = ""

    def __post_init__(self) -> None:
        """Validate the shared fields, the condition, neutral among the classes and the weights."""
        super().__post_init__()
        if self.condition not in FADER_CONDITIONS:
            raise ValueError(f"condition must be one of {', '.join(FADER_CONDITIONS)}, got {self.condition!r}")
        if NEUTRAL not in self.classes:
            raise ValueError(f"the Fader network needs neutral faces among its classes, got {list(self.classes)}")
        if self.latent < 1 or self.critic_hidden < 1 or self.ramp_steps < 0:
            raise ValueError("latent and critic_hidden must be positive, ramp_steps not negative")
        if min(self.reconstruction, self.multiclass, self.adversarial, self.lambda_siamese) < 0:
            raise ValueError("loss weights must not be negative")
        if self.siamese is not None and not str(self.siamese).strip():
            raise ValueError(f"siamese must be a comparator model folder or {FER_GUIDE!r}, not empty")

    @property
    def attributes(self) -> tuple[str, ...]:
        """The expressions y holds an intensity of (every class but neutral), in class order."""
        return tuple(c for c in self.classes if c != NEUTRAL)


@dataclass(frozen=True)
class SSVAEConfig(EmotionConfig):
    """The semi-supervised beta-VAE: its latent is also the classification layer (JSON-serialisable via
    :meth:`to_dict`).

    Attributes:
        size: square crop side, a multiple of 8 (the paper's 128; 64 on CPUs).
        channels: 3 (RGB) or 1 (grey), from the data (1 with grey).
        classes: the expressions, neutral among them (set from the training data); the latent has one axis
            per expression other than neutral (the paper's 7-D latent for CK+'s seven emotions).
        pool_stride: stride of the encoder's 2x2 max-pooling: 1 as published, 2 on CPUs.
        grey: train and synthesize grey crops, as the paper (RGB data is converted).
        final_dense: the decoder's last dense layer over every pixel (the paper's F16384).
        alpha: weight of the reconstruction's binary cross-entropy.
        beta: weight of the KL divergence from the N(0, I) prior.
        gamma: weight of the softmax cross-entropy of the latent.
        axis: where each expression's class centre sits on its axis (neutral's is the origin); the logit of
            expression e is axis * z_e - axis^2 / 2, neutral's 0 (nearest centre wins).
        extra: latent dimensions beyond the class axes, free for identity (0: the paper's).
        reduction: the reconstruction BCE per crop: mean over its pixels or their sum.
        preset: the preset the other fields' defaults come from: cpu (64 px RGB, pooling stride 2) or paper
            (128 px grey, stride 1, the final dense layer).
    """

    presets: ClassVar[dict[str, dict[str, Any]]] = GENERATIVE_PRESETS

    final_dense: bool = False
    alpha: float = 1.0
    beta: float = 2.0
    gamma: float = 10.0
    axis: float = 2.0
    extra: int = 0
    reduction: str = "mean"

    def __post_init__(self) -> None:
        """Validate the shared fields, neutral among the classes and the weights."""
        super().__post_init__()
        if NEUTRAL not in self.classes:
            raise ValueError(f"the SS-VAE needs neutral faces among its classes, got {list(self.classes)}")
        if min(self.alpha, self.beta, self.gamma) < 0 or self.axis <= 0 or self.extra < 0:
            raise ValueError("alpha, beta, gamma and extra must not be negative, axis must be positive")
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {self.reduction!r}")

    @property
    def attributes(self) -> tuple[str, ...]:
        """The expressions with a latent axis (every class but neutral), in class order."""
        return tuple(c for c in self.classes if c != NEUTRAL)

    @property
    def latent(self) -> int:
        """Latent dimensions: one axis per expression, then the extra ones."""
        return len(self.attributes) + self.extra


@dataclass(frozen=True)
class ComparatorConfig(EmotionConfig):
    """The siamese comparator: do two aligned crops show the same expression? Both go through one encoder (the
    expression CNN's layers up to F100), a head reads their features' absolute difference and product
    (JSON-serialisable via :meth:`to_dict`).

    Attributes:
        size: square crop side, a multiple of 8 (the paper's 128; 64 on CPUs).
        channels: 3 (RGB) or 1 (grey), from the data (1 with grey).
        classes: the expressions its training pairs showed (set from the training data).
        pool_stride: stride of the encoder's 2x2 max-pooling: 1 as published, 2 on CPUs.
        grey: train and compare grey crops, as the paper (RGB data is converted).
        hidden: width of the head's hidden layer.
        dropout: dropout before the head's last layer and the class layer.
        averaged: probability that each side of a training pair is an averaged face (the paper's: the pixel
            mean of 2 to average_max crops of one expression from different people) instead of one crop.
        average_max: the most crops an averaged face is the mean of (at least 2).
        auxiliary: weight of each side's expression cross-entropy (a class layer on the shared features)
            beside the pairs' binary cross-entropy (0: the paper's comparator, pairs only, which stayed at
            chance even on its training pairs of synthetic faces).
        preset: the preset the other fields' defaults come from: cpu (64 px RGB, pooling stride 2) or paper
            (128 px grey, stride 1).
    """

    hidden: int = 64
    dropout: float = 0.5
    averaged: float = 0.25
    average_max: int = 4
    auxiliary: float = 1.0

    def __post_init__(self) -> None:
        """Validate the shared fields, the head and the pairs' settings."""
        super().__post_init__()
        if self.hidden < 1 or not 0 <= self.dropout < 1:
            raise ValueError(f"hidden must be positive and dropout in [0, 1), got {self.hidden} and {self.dropout}")
        if not 0 <= self.averaged <= 1 or self.average_max < 2:
            raise ValueError(f"averaged must be in [0, 1] and average_max at least 2, got {self.averaged} and "
                             f"{self.average_max}")
        if self.auxiliary < 0:
            raise ValueError(f"auxiliary must not be negative, got {self.auxiliary}")
