"""NFGAN's configuration: encoder, decoder, discriminator and the weights of Algorithm 1's losses; presets
``cpu`` (the default) and ``paper``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from facexpr.models.base import preset_fields

#: Stride-2 convolutions of the encoder (and of the discriminator); the decoder has as many upsamplings.
LEVELS = 4

#: Preset name -> the fields it sets. ``paper`` is the network of "Normalized Face Image Generation with
#: Perceptron Generative Adversarial Networks" (Tables 1-3) with Algorithm 1's weights: 64 x 64 grey, encoder
#: convolutions 32-64-128-256 and FC 512 -> z 256, decoder 512-256-128-64-1 with tanh, for GPUs. ``cpu`` (the
#: default) keeps that shape at half the widths in colour, so that it trains in minutes on two cores, and weighs
#: the pixel loss 10 instead of 1e-3: our judges see only the inner face of an aligned crop (the FER box, dlib's
#: chip), so with 1e-3 nothing holds the rest of the crop and a tiny model trained 270 steps on synthetic faces
#: stayed below the average face (13.4 dB against mean-neutral's 16.9); with 10 it passed it (18.3 dB). It also
#: weighs L_feat 0.1, chosen on FRL London's validation people (12; 25 epochs of 512 items on the training people,
#: ``facexpr evaluate --split val``): feat 0.1 gave PSNR 20.2 dB, identity rank-1 0.50, p(neutral) 0.90; feat 0.3
#: 19.7 dB, 0.33, 0.89; feat 1 collapsed to one face in an earlier run. Raising lambda_id did not help (3: rank-1
#: 0.50, p(neutral) 0.67; 30: 0.33, 0.37), nor did ``neutral_pairs`` (rank-1 0.25, p(neutral) 0.72).
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"size": 64, "grey": True, "width": 32, "fc": 512, "latent": 256, "decoder_width": 512,
              "critic_width": 32, "lambda_pixel": 1e-3, "feat": 1.0},
    "cpu": {"size": 64, "grey": False, "width": 16, "fc": 256, "latent": 128, "decoder_width": 256,
            "critic_width": 16, "lambda_pixel": 10.0, "feat": 0.1},
}


@dataclass(frozen=True)
class NFGANConfig:
    """What builds and trains an NFGAN (JSON-serialisable via :meth:`to_dict`).

    Attributes:
        size: square crop side the networks work at, a multiple of 16 from 32 (64 as published).
        grey: the networks see and draw one grey channel (the paper's); the model repeats it to the data's channels.
        width: channels of the encoder's first 3 x 3 stride-2 convolution (doubling over its four).
        fc: units of the encoder's first fully connected layer.
        latent: size of the code z (the encoder's second fully connected layer).
        decoder_width: channels of the decoder's first map (size / 16 square; halving over its four
            fractional-stride convolutions, the last of which draws the image, tanh).
        critic_width: channels of the discriminator's first stride-2 convolution (doubling over its four).
        eta: weight of the generator's non-saturating adversarial loss (L_GAN).
        lambda_id: weight of the identity loss (L1 between dlib descriptors of output and input).
        lambda_pixel: weight of the L1 distance to the target (the paper's 1e-3; 10 in the cpu preset).
        lambda_sym: weight of the left-right symmetry loss of the output in Laplacian space.
        feat: weight of the perceptual loss (squared error of judge features against the target).
        perceptual_net: a safetensors feature network whose maps replace the judges' in the perceptual loss
            (format: facexpr.nn.feature_net; e.g. VGG-Face converted by the user; empty: the judges').
        on_warp: our variant: instead of decoding a code, a U-Net (``width`` channels at full resolution, four
            levels) refines the geometric model's neutralized face, a residual added inside its face mask.
        warp_model: the geometric model folder the variant refines (empty: the one shipped with facexpr,
            fitted on all 82 FRL London people; give one fitted on the training split to score FRL fairly).
            Its weights are saved inside the NFGAN model folder.
        neutral_pairs: also train on every neutral crop -> its person's neutral reference (the reference paired
            with itself included), beside the expressive -> neutral pairs: with one smiling and one neutral photo
            per person (FRL London) it doubles the faces the generator learns to redraw.
        init: an NFGAN model folder whose generator weights start this training, e.g. one pretrained on synthetic
            faces (unlimited pairs) before fine-tuning on real ones; its networks must be this config's.
        preset: the preset the other fields' defaults come from: cpu (default) or paper (as published, GPUs).
    """

    size: int = 64
    grey: bool = False
    width: int = 16
    fc: int = 256
    latent: int = 128
    decoder_width: int = 256
    critic_width: int = 16
    eta: float = 0.1
    lambda_id: float = 3e-3
    lambda_pixel: float = 10.0
    lambda_sym: float = 0.3
    feat: float = 0.1
    perceptual_net: str = ""
    on_warp: bool = False
    warp_model: str = ""
    neutral_pairs: bool = False
    init: str = ""
    preset: str = "cpu"

    def __post_init__(self) -> None:
        """Reject configurations the networks cannot be built with (ValueError, one line)."""
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose from {', '.join(PRESETS)}")
        if self.size < 2**LEVELS * 2 or self.size % 2**LEVELS:
            raise ValueError(f"size must be a multiple of {2**LEVELS} from {2**LEVELS * 2}, got {self.size}")
        if min(self.width, self.fc, self.latent, self.critic_width) < 1 or self.decoder_width < 2**(LEVELS - 1):
            raise ValueError("widths must be positive and the decoder's at least 8 (it halves three times)")
        if min(self.eta, self.lambda_id, self.lambda_pixel, self.lambda_sym, self.feat) < 0:
            raise ValueError("loss weights must not be negative")

    @property
    def network_channels(self) -> int:
        """Channels the networks see and draw: 1 when grey, else 3."""
        return 1 if self.grey else 3

    def weights(self) -> dict[str, float]:
        """Loss term name -> weight, for both players (the discriminator's real and fake terms count 0.5 each)."""
        return {"real": 0.5, "fake": 0.5, "feat": self.feat, "adversarial": self.eta, "identity": self.lambda_id,
                "pixel": self.lambda_pixel, "symmetry": self.lambda_sym}

    @classmethod
    def from_preset(cls, preset: str = "cpu", **overrides: Any) -> NFGANConfig:
        """A config from a preset, with any field overridden (``None`` values keep the preset's).

        Raises:
            ValueError: an unknown preset or an invalid field.
        """
        return cls(**preset_fields(PRESETS, preset, overrides))

    def with_changes(self, **changes: Any) -> NFGANConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for config.json)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NFGANConfig:
        """Inverse of :meth:`to_dict`; unknown keys are ignored so older files still load."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
