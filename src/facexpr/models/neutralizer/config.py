"""The stage-2 model's configuration: shared encoder/decoder, pooling, transfer mode and the blending option."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from facexpr.models.vae.config import VAEConfig

#: The thesis' four transfer-learning modes.
MODES = ("scratch", "scratch-reg", "frozen", "frozen-reg")
POOLINGS = ("mean", "max", "mean+max")
HEADS = ("mask", "flow")


@dataclass(frozen=True)
class NeutralizerConfig:
    """What builds (and how to train) a multi-image neutralizer; JSON-serialisable via :meth:`to_dict`.

    Attributes:
        vae: encoder/decoder architecture, size and latent dimension (a stage-1
            model's config in the pretrained modes).
        mode: ``scratch``; ``scratch-reg`` (plus the latent regularizer);
            ``frozen`` (the stage-1 decoder attached and frozen); ``frozen-reg``
            (default: the thesis' model; the pretrained modes need a stage-1 model).
        reg_lambda: weight of the regularizer ``|V_T - V_R|_1`` (V_T: the stage-1
            mean encoding of the true neutral face; V_R: the neutralizer's latent).
        pooling: how the N photos' encoder features are combined before the
            latent head; permutation-invariant, so N may vary: ``mean``, ``max``
            or ``mean+max`` (their sum).
        blend: our improvement over the thesis (default on): a small head
            predicts a soft mask m and the output is
            ``m * decoded + (1 - m) * mean(inputs)``, so what the expression did
            not change keeps the photos' detail instead of the decoder's blur.
            Off: the published model (the decoded face).
        head: the blending head: ``mask`` (the mask only) or ``flow`` (default; per
            photo, the mask and a smooth displacement field that warps the
            photo towards the neutral face before blending: an expression
            mostly moves the face, and a warped photo keeps its sharpness where
            the decoder is blurred).
        mask_width: channels of the head.
        mask_penalty: weight of the mask's sparsity penalty (per unit of mask,
            on the scale of the summed squared error).
        ssim_weight: weight of the structural term ``1 - SSIM(output, target)``
            (Gaussian window, sigma 1.5) per face, on the scale of the summed
            squared error; it keeps the mask from trading the photos' structure
            for the decoder's blur where that lowers the squared error only
            (0: squared error only, the thesis' loss).
        max_inputs: photos per subject the model is meant for and trained with (it accepts any N).
        init_encoder: in the pretrained modes, start the shared encoder from
            the stage-1 encoder (its latent head included) rather than at random.
    """

    vae: VAEConfig = field(default_factory=VAEConfig)
    mode: str = "frozen-reg"
    reg_lambda: float = field(default=0.1, metadata={"flag": "--lambda"})
    pooling: str = "mean"
    blend: bool = True
    head: str = "flow"
    mask_width: int = field(default=16, metadata={"flag": "--head-width"})
    mask_penalty: float = 1e-3
    ssim_weight: float = 0.0
    max_inputs: int = field(default=7, metadata={"flag": "--shots"})
    init_encoder: bool = True

    def __post_init__(self) -> None:
        """Reject unknown modes and poolings and nonsensical weights (ValueError, one line)."""
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; choose from {', '.join(MODES)}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {self.pooling!r}; choose from {', '.join(POOLINGS)}")
        if self.head not in HEADS:
            raise ValueError(f"unknown head {self.head!r}; choose from {', '.join(HEADS)}")
        if min(self.reg_lambda, self.mask_penalty, self.ssim_weight) < 0:
            raise ValueError("reg_lambda, mask_penalty and ssim_weight must not be negative")
        if self.max_inputs < 1 or self.mask_width < 1:
            raise ValueError("max_inputs and mask_width must be positive")

    @property
    def pretrained(self) -> bool:
        """True when the mode needs a stage-1 model (all but ``scratch``)."""
        return self.mode != "scratch"

    @property
    def frozen(self) -> bool:
        """True when the decoder is the stage-1 decoder, frozen."""
        return self.mode.startswith("frozen")

    @property
    def regularized(self) -> bool:
        """True when the latent regularizer is part of the loss."""
        return self.mode.endswith("-reg")

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (``vae`` nested)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NeutralizerConfig":
        """Inverse of :meth:`to_dict`; unknown keys are ignored; a config saved before ``head`` existed is ``mask``."""
        known = {"head": "mask"} | {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        known["vae"] = VAEConfig.from_dict(data.get("vae", {}))
        return cls(**known)
