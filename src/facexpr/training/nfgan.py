"""NFGAN, "Normalized Face Image Generation with Perceptron Generative Adversarial Networks" (issue 11):
``facexpr train nfgan``.

Algorithm 1 of the paper, on (expressive crop, the person's neutral crop) pairs:
the encoder-decoder (:class:`~facexpr.models.nfgan.NFGANNet`) draws the neutral
face from a code of the input; its loss is

``L_feat + eta L_GAN + lambda_id L_id + lambda_pixel L_pixel + lambda_sym L_sym``

with L_feat the squared error of perceptual features of output and target,
L_GAN the non-saturating adversarial loss against a discriminator shown real
neutral frontal faces (the guiding set: the batch's real neutral targets),
L_id the L1 distance between identity descriptors of output and *input*,
L_pixel the L1 distance to the target and L_sym the left-right asymmetry of the
output in Laplacian space (:mod:`facexpr.training.nfgan_losses` says which
frozen judges give the features). L_GAN and L_sym are computed on a second
decoding of the *detached* code, so they train the decoder only and never reach
the encoder; the discriminator is stepped on its own loss alone.

``--on-warp`` (ours) trains the same losses on a refiner of the geometric
model's neutralized face (a residual inside its face mask): there is no code,
so every loss trains the whole refiner.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch import nn

from facexpr.io import BadInputError
from facexpr.models.base import load_model
from facexpr.models.geometric import GeometricModel
from facexpr.models.nfgan import (
    NFGANConfig,
    NFGANDiscriminator,
    NFGANModel,
    build_generator,
    to_network_channels,
    warp_base,
)
from facexpr.nn.feature_net import load_feature_net
from facexpr.training.data import DataSource, PairedDataModule
from facexpr.training.methods import register_method
from facexpr.training.module import GENERATOR, GenerativeModule, TrainingMethod
from facexpr.training.nfgan_losses import (
    FaceJudges,
    feature_loss,
    identity_loss,
    symmetry_loss,
)
from facexpr.training.options import TrainOptions
from facexpr.training.trainer import TrainResult, check_out_dir, run_training
from facexpr.training.warp_model import load_warp_model

DISCRIMINATOR = "discriminator"
#: Adam's betas for both players (DCGAN's).
GAN_BETAS = (0.5, 0.999)


class NFGANMethod(TrainingMethod):
    """Players ``discriminator`` then ``generator``.

    Discriminator terms: ``real`` (BCE of the real neutral targets as real) and
    ``fake`` (BCE of the detached outputs as fake); ``critic_real`` /
    ``critic_fake`` (mean probabilities) are logged. Generator terms: ``feat``,
    ``adversarial``, ``identity``, ``pixel`` and ``symmetry`` (see the module
    docstring), each averaged over the batch. ``geometric`` is the model the
    on-warp variant refines (required with ``config.on_warp``).
    """

    players = (DISCRIMINATOR, GENERATOR)
    image_keys = ("input", "target")

    def __init__(self, config: NFGANConfig, geometric: GeometricModel | None = None):
        if config.on_warp and geometric is None:
            raise ValueError("the on-warp variant needs the geometric model it refines")
        super().__init__(config.size)
        self.config = config
        self.net = build_generator(config)
        self.critic = NFGANDiscriminator(config)
        self.geometric = geometric  # not a torch module: neither trained nor checkpointed
        # Frozen and not a submodule: neither checkpointed nor switched to training mode with the method.
        self._judges: list[FaceJudges] = []

    @property
    def generator(self) -> nn.Module:
        """The encoder-decoder."""
        return self.net

    def judges(self, device: torch.device) -> FaceJudges:
        """The frozen face judges (and the config's perceptual network) on ``device`` (loaded on first use)."""
        if not self._judges or self._judges[0].device != device:
            path = self.config.perceptual_net
            self._judges[:] = [FaceJudges(device, load_feature_net(path) if path else None)]
        return self._judges[0]

    def run(self, batch: dict) -> dict[str, torch.Tensor]:
        """Code and output of each input (on warp: the geometric model's face and the refined one), in the
        networks' channels (grey for the paper preset)."""
        grey = self.config.grey
        inputs, target = to_network_channels(batch["input"], grey), to_network_channels(batch["target"], grey)
        if self.geometric is not None:
            base, mask = warp_base(self.geometric, batch["input"], self.size)
            base = to_network_channels(base, grey)
            return {"input": inputs, "base": base, "output": self.net(base, mask), "target": target}
        code = self.net.encoder(inputs)
        return {"input": inputs, "code": code, "output": self.net.decoder(code), "target": target}

    def losses(self, player: str, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The player's terms (see the class docstring)."""
        output, target = outputs["output"], outputs["target"]
        if player == DISCRIMINATOR:
            real, fake = self.critic(target), self.critic(output.detach())
            return {"real": F.binary_cross_entropy_with_logits(real, torch.ones_like(real)),
                    "fake": F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)),
                    "critic_real": torch.sigmoid(real).mean().detach(),
                    "critic_fake": torch.sigmoid(fake).mean().detach()}
        judges = self.judges(output.device)
        features, described = judges.features(output, descriptor=True)
        with torch.no_grad():
            wanted, _ = judges.features(target)
            reference = judges.descriptors(outputs["input"])
        # what L_GAN and L_sym may train: the decoder only (the refiner has no code)
        decoder_only = self.net.decoder(outputs["code"].detach()) if "code" in outputs else output
        fooled = self.critic(decoder_only)
        return {"feat": feature_loss(features, wanted),
                "adversarial": F.binary_cross_entropy_with_logits(fooled, torch.ones_like(fooled)),
                "identity": identity_loss(described, reference),
                "pixel": (output - target).abs().mean(),
                "symmetry": symmetry_loss(decoder_only)}

    def parameters_of(self, player: str):
        """The discriminator's, or the encoder's and decoder's, parameters."""
        return (self.critic if player == DISCRIMINATOR else self.net).parameters()

    def export(self, channels: int = 3) -> NFGANModel:
        """The trained generator as an :class:`NFGANModel` for ``channels``-channel crops (CPU, eval)."""
        net = build_generator(self.config)
        net.load_state_dict({k: v.detach().cpu() for k, v in self.net.state_dict().items()})
        return NFGANModel(self.config, channels, net, self.geometric)


class NFGANModule(GenerativeModule):
    """:class:`GenerativeModule` whose targets are compared in the networks' channels and whose export keeps
    the data's channel count."""

    def __init__(self, method: NFGANMethod, channels: int, lr: float, augment: bool):
        """``channels``: the data's crops' (the exported model's); Adam with DCGAN's betas for both players."""
        super().__init__(method, method.config.weights(), lr, augment, betas=GAN_BETAS)
        self.channels = channels

    def export(self) -> NFGANModel:
        """The trained model for the data's crops."""
        return self.method.export(self.channels)


def warp_model(config: NFGANConfig, channels: int) -> GeometricModel | None:
    """The geometric model the on-warp variant refines (:func:`load_warp_model`), None without ``on_warp``."""
    return load_warp_model(config.warp_model, channels) if config.on_warp else None


def start_from(method: NFGANMethod, folder: str) -> None:
    """Load the generator weights of the NFGAN model in ``folder`` into ``method`` (pretraining, then fine-tuning).

    Raises:
        BadInputError: not an NFGAN model, or its networks differ from the method's.
    """
    model = load_model(folder)
    if not isinstance(model, NFGANModel):
        raise BadInputError(folder, f"--init must be an nfgan model, not {model.family}")
    try:
        method.net.load_state_dict(model.net.state_dict())
    except RuntimeError:
        raise BadInputError(folder, "its networks differ from this configuration's (size, widths, latent, "
                                    "grey, on_warp must match)") from None


@register_method("nfgan", config=NFGANConfig, options=TrainOptions)
def train_nfgan(
    data: DataSource | Sequence[DataSource],
    out: str | Path,
    split: str = "train",
    config: NFGANConfig | None = None,
    options: TrainOptions | None = None,
    callbacks: tuple[Callback, ...] = (),
) -> TrainResult:
    """NFGAN: an expressive face in, the person's neutral frontal face out, decoded from a code of the input
    with perceptual, identity, symmetry, pixel and adversarial losses (--preset paper: as published, GPUs).

    Trains on every (expressive crop, the person's neutral crop) pair of
    ``split`` of one or several prepared folders into the folder ``out``;
    ``config`` defaults to the ``cpu`` preset (``on_warp``: our variant refining
    the geometric model's face; ``init``: start from a pretrained model, e.g.
    one trained on synthetic faces). Both players use Adam with
    betas (0.5, 0.999) at ``options.lr``. Rerunning after an interruption resumes.

    Raises:
        BadInputError: unreadable data, no pairs, or ``out`` already holds a finished model.
    """
    out_dir = Path(out)
    check_out_dir(out_dir)
    options = options or TrainOptions()
    config = config or NFGANConfig.from_preset("cpu")
    datamodule = PairedDataModule(data, split, options.batch_size, options.workers, options.min_epoch_items,
                                  neutral_pairs=config.neutral_pairs)
    L.seed_everything(options.seed, workers=True, verbose=False)
    if config.perceptual_net:
        load_feature_net(config.perceptual_net)  # an unusable file fails here, before any training
    method = NFGANMethod(config, warp_model(config, datamodule.channels))
    if config.init:
        start_from(method, config.init)  # a resumed run then continues from its checkpoint instead
    module = NFGANModule(method, datamodule.channels, options.lr, options.augment)
    describe = {"stage": "nfgan", **datamodule.describe(), "nfgan": config.to_dict(), "weights": config.weights(),
                "identity_landmarks": "fixed template: the shipped geometric model's mean FRL landmark shape"}
    return run_training(module, datamodule, out_dir, options, callbacks, describe)
