"""The conditional DCGAN of "Generating Facial Expressions" (issue 12): ``facexpr train cdcgan``.

The generator (:class:`~facexpr.nn.ConditionalEncoderDecoder`, no noise) takes
a face and the one-hot of a target expression; a DCGAN discriminator judges
the person's real photo of that expression against the generator's output.
The generator's loss is the L1 reconstruction of the real target plus fooling
the discriminator (non-saturating). The report's generator learnt the
identity function; the ``fixed`` preset (the default) conditions the
discriminator on the target class (projection) and has it call the input
photo with the requested class fake (so returning the input is caught), and
lets the generator output a residual change. ``--expression W`` adds the FER
judge's cross-entropy for the requested expression (differentiable; targets
the judge does not know, such as contempt, contribute nothing). ``--preset
report`` is the configuration as published.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch import nn

from facexpr.judges.expression import (
    EXPRESSION_CLASSES,
    ExpressionJudge,
    MiniXception,
    fer_input,
)
from facexpr.models.cdcgan.config import CDCGANConfig
from facexpr.models.cdcgan.model import CDCGANModel, build_generator
from facexpr.nn.discriminators import DCGANDiscriminator
from facexpr.training.data import ConditionalDataModule, DataSource
from facexpr.training.methods import register_method
from facexpr.training.module import GENERATOR, GenerativeModule, TrainingMethod
from facexpr.training.options import TrainOptions
from facexpr.training.trainer import TrainResult, check_out_dir, run_training

DISCRIMINATOR = "discriminator"
#: The discriminator's channel cap, as a multiple of its first width.
CRITIC_MAX_FACTOR = 8
#: Adam's betas for both players (DCGAN's).
GAN_BETAS = (0.5, 0.999)


def judge_indices(classes: Sequence[str]) -> list[int]:
    """For each of the data's classes, its index among the FER judge's :data:`EXPRESSION_CLASSES` (-1: unknown
    to the judge, e.g. contempt, which then contributes no expression loss)."""
    return [EXPRESSION_CLASSES.index(c) if c in EXPRESSION_CLASSES else -1 for c in classes]


def cdcgan_weights(config: CDCGANConfig) -> dict[str, float]:
    """The weight of each optimised term of both players (terms are named uniquely across players)."""
    weights = {"real": 0.5, "fake": 0.5, "l1": config.reconstruction, "adversarial": config.adversarial}
    if config.mismatch:
        weights["mismatch"] = 0.5
    if config.auxiliary:
        weights.update(real_class=1.0, fake_class=1.0)
    if config.expression > 0 and any(i >= 0 for i in judge_indices(config.classes)):
        weights["expression"] = config.expression
    return weights


class CDCGANMethod(TrainingMethod):
    """Players ``discriminator`` then ``generator``.

    Discriminator terms: ``real`` (BCE of the real target photo with its
    label as real), ``fake`` (BCE of the detached output with the requested
    label as fake), ``mismatch`` (with ``mismatch``: the input photo with the
    requested label as fake), ``real_class`` (with ``auxiliary``: cross-entropy of its
    class head on the real target). Generator terms: ``l1`` (to the real
    target), ``adversarial`` (non-saturating: BCE of the output as real),
    ``fake_class`` (with ``auxiliary``: the class head should read the
    requested class on the output) and ``expression`` (the FER judge's
    cross-entropy for the requested class on the output, on the targets it
    knows). ``critic_real`` / ``critic_fake`` (mean D probabilities) are logged.
    """

    players = (DISCRIMINATOR, GENERATOR)
    image_keys = ("input", "target")

    def __init__(self, config: CDCGANConfig):
        super().__init__(config.size)
        self.config = config
        self.net = build_generator(config)
        self.critic = DCGANDiscriminator(config.size, config.channels, config.critic_width,
                                         CRITIC_MAX_FACTOR * config.critic_width, len(config.classes),
                                         auxiliary=config.auxiliary, projection=config.projection)
        self.register_buffer("judge_index", torch.tensor(judge_indices(config.classes)), persistent=False)
        self.use_judge = "expression" in cdcgan_weights(config)
        # Frozen and not a submodule: neither checkpointed nor switched to training mode with the method.
        self._judge: list[MiniXception] = []

    @property
    def generator(self) -> nn.Module:
        """The conditional encoder-decoder."""
        return self.net

    def judge(self, device: torch.device) -> MiniXception:
        """The frozen FER mini-Xception on ``device`` (loaded on first use)."""
        if not self._judge:
            self._judge.append(ExpressionJudge(device).model)
        if next(self._judge[0].parameters()).device != device:
            self._judge[0] = self._judge[0].to(device)
        return self._judge[0]

    def run(self, batch: dict) -> dict[str, torch.Tensor]:
        """The generator's output for each input and its requested (target) class."""
        label = batch["label"].long()
        onehot = F.one_hot(label, len(self.config.classes)).to(batch["input"].dtype)
        return {"input": batch["input"], "output": self.net(batch["input"], onehot), "target": batch["target"],
                "label": label}

    def losses(self, player: str, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The player's terms (see the class docstring), each averaged over the batch."""
        label, output = outputs["label"], outputs["output"]
        if player == DISCRIMINATOR:
            real = self.critic(outputs["target"], label)
            fake = self.critic(output.detach(), label)
            terms = {"real": F.binary_cross_entropy_with_logits(real.logit, torch.ones_like(real.logit)),
                     "fake": F.binary_cross_entropy_with_logits(fake.logit, torch.zeros_like(fake.logit)),
                     "critic_real": torch.sigmoid(real.logit).mean().detach(),
                     "critic_fake": torch.sigmoid(fake.logit).mean().detach()}
            if self.config.mismatch:  # the input photo is real, but not of the requested expression
                wrong = self.critic(outputs["input"], label).logit
                terms["mismatch"] = F.binary_cross_entropy_with_logits(wrong, torch.zeros_like(wrong))
            if real.class_logits is not None:
                terms["real_class"] = F.cross_entropy(real.class_logits, label)
            return terms
        fooled = self.critic(output, label)
        terms = {"l1": (output - outputs["target"]).abs().mean(),
                 "adversarial": F.binary_cross_entropy_with_logits(fooled.logit, torch.ones_like(fooled.logit))}
        if fooled.class_logits is not None:
            terms["fake_class"] = F.cross_entropy(fooled.class_logits, label)
        if self.use_judge:
            wanted = self.judge_index[label]
            if bool((wanted >= 0).any()):
                logits = self.judge(output.device)(fer_input(output))
                terms["expression"] = F.cross_entropy(logits, wanted, ignore_index=-1)
        return terms

    def parameters_of(self, player: str):
        """The discriminator's or the generator's parameters."""
        return (self.critic if player == DISCRIMINATOR else self.net).parameters()

    def export(self) -> CDCGANModel:
        """The trained generator as a :class:`CDCGANModel` (on the CPU, in eval mode)."""
        generator = build_generator(self.config)
        generator.load_state_dict({k: v.detach().cpu() for k, v in self.net.state_dict().items()})
        return CDCGANModel(self.config, generator)


@register_method("cdcgan", config=CDCGANConfig, options=TrainOptions)
def train_cdcgan(
    data: DataSource | Sequence[DataSource],
    out: str | Path,
    split: str = "train",
    config: CDCGANConfig | None = None,
    options: TrainOptions | None = None,
    callbacks: tuple[Callback, ...] = (),
) -> TrainResult:
    """The conditional DCGAN: a face and a one-hot target expression in, that person with that expression
    out, one generator for every expression of the data (--preset report: as published).

    Trains on every (crop, other expression of the same person) pair of
    ``split`` of one or several prepared folders into the folder ``out``;
    ``config`` defaults to the ``fixed`` preset, its channels and classes follow
    the data. Both players use Adam with betas (0.5, 0.999) at ``options.lr``
    and take ``config.steps_per_batch`` steps on every batch. Rerunning after
    an interruption resumes.

    Raises:
        BadInputError: unreadable data, no pairs, or ``out`` already holds a finished model.
    """
    out_dir = Path(out)
    check_out_dir(out_dir)
    options = options or TrainOptions()
    datamodule = ConditionalDataModule(data, split, options.batch_size, options.workers, options.min_epoch_items)
    config = (config or CDCGANConfig.from_preset("fixed")).with_changes(channels=datamodule.channels,
                                                                         classes=datamodule.classes)
    L.seed_everything(options.seed, workers=True, verbose=False)
    weights = cdcgan_weights(config)
    module = GenerativeModule(CDCGANMethod(config), weights, options.lr, options.augment, betas=GAN_BETAS,
                              steps_per_batch=config.steps_per_batch)
    describe = {"stage": "cdcgan", **datamodule.describe(), "cdcgan": config.to_dict(),
                "expression_loss": "expression" in weights}
    return run_training(module, datamodule, out_dir, options, callbacks, describe)
