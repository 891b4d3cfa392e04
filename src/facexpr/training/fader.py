"""The emotion-VAE paper's Fader network (issue 13): ``facexpr train fader``.

The encoder (the classifier's layers) codes a face as z; the decoder redraws
it from (z, y), y the face's expression attributes. A latent discriminator
learns to tell emotion from no emotion from z; in the ``adversarial``
condition the encoder learns to fool it (its label flipped, as Fader networks
do), weighted by lambda that grows linearly from 0 to ``--adversarial`` over
``--ramp-steps`` batches (the Fader paper's schedule), so the decoder has to
take the expression from y. The paper's three conditions: ``l2``
(reconstruction only), ``multiclass`` (and the latent classifier's
cross-entropy on z), ``adversarial`` (and the adversary). The discriminator
trains in every condition, so its loss measures how much emotion z holds.
``--siamese COMPARATOR`` adds the siamese guidance in any condition: -log
p(same) of the reconstruction and a partner crop with the input's expression,
under a frozen comparator or the FER judge, weighted ``--lambda-siamese``
(:mod:`facexpr.training.comparator`). ``--on-warp`` (the cpu preset's) trains the
same networks and exports a model whose output starts from a geometric
model's face (``--warp-model``, or one fitted on the same training crops;
kept inside its folder).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch import nn

from facexpr.io import BadInputError, as_channels
from facexpr.models.emotion.config import NEUTRAL, FaderConfig
from facexpr.models.emotion.fader import (
    FaderModel,
    FaderNet,
    latent_head,
    unknown_expressions,
)
from facexpr.models.geometric import GeometricModel, GeometricOptions
from facexpr.nn.discriminators import LatentDiscriminator
from facexpr.training.comparator import SiameseGuide, with_partners
from facexpr.training.data import DataSource
from facexpr.training.emotion_data import (
    EmotionDataModule,
    LabelledOptions,
    held_out_scores,
    record_in_summary,
)
from facexpr.training.expression_cnn import LabelledMethod, emotion_datamodule
from facexpr.training.geometric_fit import fit_geometric
from facexpr.training.methods import register_method
from facexpr.training.module import GENERATOR, GenerativeModule
from facexpr.training.options import TrainOptions
from facexpr.training.trainer import TrainResult, check_out_dir, run_training
from facexpr.training.warp_model import load_warp_model

DISCRIMINATOR = "discriminator"
#: Layers and dropout of the latent discriminator (the Fader paper's MLP).
CRITIC_LAYERS, CRITIC_DROPOUT = 2, 0.3


def fader_weights(config: FaderConfig) -> dict[str, float]:
    """The weight of each optimised term of both players (``adversarial`` starts at 0: the ramp raises it)."""
    weights = {"latent_bce": 1.0, "recon": config.reconstruction}
    if config.condition == "l2":
        weights["reader"] = 1.0
    else:
        weights["multiclass"] = config.multiclass
    if config.condition == "adversarial":
        weights["adversarial"] = 0.0 if config.ramp_steps else config.adversarial
    if config.siamese:
        weights["siamese"] = config.lambda_siamese
    return weights


class FaderMethod(LabelledMethod):
    """Players ``discriminator`` then ``generator`` (encoder, decoder and latent classifier).

    Discriminator terms: ``latent_bce`` (BCE of emotion vs no emotion from the
    detached z, standardised as the latent classifier's) and ``accuracy``. Generator terms: ``recon`` (mean squared
    error per pixel), ``multiclass`` (cross-entropy of the latent classifier
    on z; in the ``l2`` condition ``reader`` instead, on a detached z, so the
    classifier learns without shaping the encoder), ``adversarial`` (BCE of the
    discriminator on z against the flipped label) and ``latent_accuracy``; with
    ``siamese``, ``siamese`` (-log p(same) of the reconstruction and the batch's
    ``partner`` crops under the frozen guide, ``guide`` or the one the config names).
    """

    players = (DISCRIMINATOR, GENERATOR)

    def __init__(self, config: FaderConfig, guide: SiameseGuide | None = None,
                 geometric: GeometricModel | None = None):
        super().__init__(config.size, config.channels)
        self.config = config
        self.geometric = geometric  # on warp; not a torch module: neither trained nor checkpointed
        self.net = FaderNet(config)
        self.critic = latent_head(config.latent, LatentDiscriminator(config.latent, 1, config.critic_hidden,
                                                                     CRITIC_LAYERS, CRITIC_DROPOUT))
        self.neutral = config.classes.index(NEUTRAL)
        self.guide = guide or (SiameseGuide(config.siamese) if config.siamese else None)
        if self.guide is not None:
            self.image_keys = ("image", "partner")  # resized and augmented with the crop

    @property
    def generator(self) -> nn.Module:
        """Encoder, decoder and latent classifier."""
        return self.net

    def with_images(self, batch: dict, images: tuple[torch.Tensor, ...]) -> dict:
        """The batch with new crops (and partners), in the method's channels."""
        batch = super().with_images(batch, images[:1])
        return {**batch, "partner": as_channels(images[1], self.channels)} if len(images) > 1 else batch

    def run(self, batch: dict) -> dict[str, torch.Tensor]:
        """Code, redraw with the crop's own attributes, and the emotion vs no-emotion label (and the partners,
        with siamese guidance)."""
        label = batch["label"].long()
        codes = self.net.encode(batch["image"])
        output = self.net.decode(codes, self.net.label_attributes(label))
        outputs = {"output": output, "target": batch["image"], "codes": codes, "label": label,
                   "emotion": (label != self.neutral).float()}
        if self.guide is not None:
            outputs["partner"] = batch["partner"]
        return outputs

    def losses(self, player: str, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The player's terms (see the class docstring), each averaged over the batch."""
        codes, emotion, label = outputs["codes"], outputs["emotion"], outputs["label"]
        if player == DISCRIMINATOR:
            logit = self.critic(codes.detach()).squeeze(1)
            return {"latent_bce": F.binary_cross_entropy_with_logits(logit, emotion),
                    "accuracy": ((logit > 0).float() == emotion).float().mean()}
        terms = {"recon": (outputs["output"] - outputs["target"]).pow(2).mean()}
        if self.config.condition == "l2":
            logits = self.net.reader(codes.detach())
            terms["reader"] = F.cross_entropy(logits, label)
        else:
            logits = self.net.reader(codes)
            terms["multiclass"] = F.cross_entropy(logits, label)
        terms["latent_accuracy"] = (logits.argmax(1) == label).float().mean()
        if self.config.condition == "adversarial":
            terms["adversarial"] = F.binary_cross_entropy_with_logits(self.critic(codes).squeeze(1), 1 - emotion)
        if self.guide is not None:
            terms["siamese"] = self.guide.loss(outputs["output"], outputs["partner"]).mean()
        return terms

    def parameters_of(self, player: str):
        """The discriminator's or the encoder-decoder's parameters."""
        return (self.critic if player == DISCRIMINATOR else self.net).parameters()

    def export(self) -> FaderModel:
        """The trained network as a :class:`FaderModel` (on the CPU, in eval mode)."""
        network = FaderNet(self.config)
        network.load_state_dict({k: v.detach().cpu() for k, v in self.net.state_dict().items()})
        return FaderModel(self.config, network, geometric=self.geometric)


class AdversarialRamp(Callback):
    """Sets the ``adversarial`` weight before every batch: ``final * min(1, batches / ramp_steps)``, counted
    from the trainer's global step (so a resumed run continues the ramp where it stopped)."""

    def __init__(self, final: float, ramp_steps: int, players: int):
        self.final, self.ramp_steps, self.players = final, ramp_steps, players

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: GenerativeModule, batch, batch_idx: int) -> None:
        """Raise lambda along the ramp."""
        batches = trainer.global_step // self.players
        pl_module.weights["adversarial"] = self.final * min(1.0, batches / self.ramp_steps)


def warp_start(config: FaderConfig, datamodule: EmotionDataModule) -> GeometricModel:
    """The geometric model the on-warp output starts from: ``config.warp_model``, or one fitted on the
    datamodule's training crops; checked against the data's channels and classes.

    Raises:
        BadInputError: not a geometric model, other channels, an expression of the data it cannot produce, or
            training crops it cannot be fitted on.
    """
    if config.warp_model:
        geometric = load_warp_model(config.warp_model, config.channels)
    else:
        geometric = fit_geometric(datamodule.prepared, datamodule.split, GeometricOptions(refine_steps=0),
                                  channels=config.channels)
    if unknown := unknown_expressions(config, geometric):
        raise BadInputError(config.warp_model or "the geometric model fitted on the training crops",
                            f"{unknown}; fit one on this data: facexpr train geometric")
    return geometric


@register_method("fader", config=FaderConfig, labelled=LabelledOptions, options=TrainOptions)
def train_fader(
    data: DataSource | Sequence[DataSource],
    out: str | Path,
    split: str = "train",
    config: FaderConfig | None = None,
    labelled: LabelledOptions | None = None,
    options: TrainOptions | None = None,
    callbacks: tuple[Callback, ...] = (),
) -> TrainResult:
    """The paper's Fader network: a face's code and expression attributes decode to that person with any
    expression at a dialled strength (--condition l2, multiclass or adversarial, the paper's three; --siamese
    for the siamese guidance).

    Trains on the labelled crops of ``split`` of one or several prepared folders
    (neutral among them) into the folder ``out``; ``config`` defaults to the
    ``cpu`` preset, its channels and classes follow the data. With
    ``config.siamese`` every crop gets a partner with its expression (another
    person when possible) and the reconstruction is guided towards "same" as
    it. With ``config.on_warp`` the exported model starts from the geometric
    model ``config.warp_model`` (when empty, one fitted on the same training
    crops, in seconds). The summary
    holds the latent classifier's accuracy on held-out people. Rerunning
    after an interruption resumes.

    Raises:
        BadInputError: unreadable data, no labelled crops, ``out`` already holds a finished model, a
            ``siamese`` that is neither ``fer`` nor a comparator folder, or on warp a ``warp_model`` that is
            not a geometric model of the data's channels and expressions.
        ValueError: no neutral crops among the classes.
    """
    out_dir = Path(out)
    check_out_dir(out_dir)
    options, labelled = options or TrainOptions(), labelled or LabelledOptions()
    config = config or FaderConfig.from_preset("cpu")
    guide = SiameseGuide(config.siamese) if config.siamese else None  # a bad --siamese fails before the data loads
    datamodule = emotion_datamodule(data, split, options, labelled, out_dir)
    if guide is not None:
        with_partners(datamodule, options.seed)
    config = config.for_data(datamodule.channels, datamodule.classes)
    geometric = warp_start(config, datamodule) if config.on_warp else None
    L.seed_everything(options.seed, workers=True, verbose=False)
    method = FaderMethod(config, guide, geometric)
    module = GenerativeModule(method, fader_weights(config), options.lr, options.augment)
    if config.condition == "adversarial" and config.ramp_steps:
        callbacks = (AdversarialRamp(config.adversarial, config.ramp_steps, len(method.players)), *callbacks)
    describe = {"stage": "fader", **datamodule.describe(), "fader": config.to_dict(), "labelled": labelled.to_dict()}
    result = run_training(module, datamodule, out_dir, options, callbacks, describe)
    if result.model is None or result.summary is None:
        return result
    scores = held_out_scores(result.model.classify, data, config.classes)
    result.summary = record_in_summary(out_dir, result.model, result.summary, latent_classifier=scores)
    return result
