"""The emotion-VAE paper's semi-supervised beta-VAE (issue 13): ``facexpr train ssvae``.

alpha * reconstruction (binary cross-entropy) + beta * KL divergence from
N(0, I) + gamma * softmax cross-entropy of the latent (1, 2, 10 by default):
the latent mean is also the classification layer, each expression along its
own axis and neutral at the origin (see :mod:`facexpr.models.emotion.ssvae`).
The finished model records the range of the latent means on each class axis
over the training crops, the range ``facexpr sample --traverse`` dials, and
the training folder gets the distribution of the latent means along the class
axes by true expression (:data:`DISTRIBUTION_PLOT`, the paper's Fig. 7/10).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader

from facexpr.data.pairing import PreparedDataset
from facexpr.data.records import FaceRecord
from facexpr.models.emotion.config import SSVAEConfig
from facexpr.models.emotion.ssvae import SSVAEModel, SSVAENet, bce_per_crop, kl_to_prior
from facexpr.models.vae.latent import AxisFeatures, write_axis_distribution
from facexpr.training.data import DataSource
from facexpr.training.emotion_data import (
    HELD_OUT_SPLITS,
    EmotionDataModule,
    LabelledOptions,
    held_out_scores,
    record_in_summary,
)
from facexpr.training.expression_cnn import LabelledMethod, emotion_datamodule
from facexpr.training.methods import register_method
from facexpr.training.module import GenerativeModule
from facexpr.training.options import TrainOptions
from facexpr.training.trainer import TrainResult, check_out_dir, run_training

#: The per-expression latent distribution written into the training folder.
DISTRIBUTION_PLOT = "latent_distribution.png"


class SSVAEMethod(LabelledMethod):
    """Terms ``bce`` (per crop, weighted alpha), ``kl`` (per crop, beta), ``ce`` (softmax cross-entropy of
    the latent mean's class logits, gamma) and ``accuracy``. Training decodes a sampled latent, validation
    the mean (what :class:`SSVAEModel` does)."""

    def __init__(self, config: SSVAEConfig):
        super().__init__(config.size, config.channels)
        self.config = config
        self.net = SSVAENet(config)

    @property
    def generator(self) -> nn.Module:
        """The semi-supervised VAE."""
        return self.net

    def run(self, batch: dict) -> dict[str, torch.Tensor]:
        """Encode, sample (in training), decode; the latent means' class logits."""
        mu, logvar = self.net.encode(batch["image"])
        latents = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return {"output": self.net.decode(latents), "target": batch["image"], "mu": mu, "logvar": logvar,
                "logits": self.net.class_logits(mu), "label": batch["label"].long()}

    def losses(self, player: str, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``bce``, ``kl``, ``ce`` and ``accuracy``, each averaged over the batch."""
        return {"bce": bce_per_crop(outputs["output"], outputs["target"], self.config.reduction).mean(),
                "kl": kl_to_prior(outputs["mu"], outputs["logvar"]).mean(),
                "ce": F.cross_entropy(outputs["logits"], outputs["label"]),
                "accuracy": (outputs["logits"].argmax(1) == outputs["label"]).float().mean()}

    def export(self) -> SSVAEModel:
        """The trained network as an :class:`SSVAEModel` (on the CPU, in eval mode)."""
        network = SSVAENet(self.config)
        network.load_state_dict({k: v.detach().cpu() for k, v in self.net.state_dict().items()})
        return SSVAEModel(self.config, network)


def axis_ranges(model: SSVAEModel, datamodule: EmotionDataModule,
                batch_size: int = 64) -> dict[str, tuple[float, float]]:
    """Expression -> the smallest and largest latent mean on its class axis over the training crops as they
    are (before balancing and augmentation): the values the traversal dials between, recorded so that it
    needs no data."""
    items = ConcatDataset([datamodule.build(prepared, datamodule.split, False) for prepared in datamodule.prepared])
    means = torch.cat([model.encode(batch["image"].to(model.device)).cpu()
                       for batch in DataLoader(items, batch_size=batch_size)])
    return {e: (float(means[:, i].min()), float(means[:, i].max())) for i, e in enumerate(model.traversable)}


def distribution_crops(datamodule: EmotionDataModule, classes: Sequence[str]
                       ) -> tuple[list[tuple[PreparedDataset, list[FaceRecord]]], str]:
    """The crops the latent distribution is drawn on, as (prepared folder, records) pairs, and what they are:
    the people each folder held out (its test split, else val, as the held-out scores), or the training crops
    when no folder holds any out."""
    held_out, used = [], []
    for prepared in datamodule.prepared:
        split = next((s for s in HELD_OUT_SPLITS if s in prepared.splits and s != datamodule.split), None)
        records = [r for r in prepared.select(split) if r.expression in classes] if split else []
        if records:
            held_out.append((prepared, records))
            used.append(f"{split} of {prepared.root.name}")
    if held_out:
        return held_out, f"held-out people: {', '.join(used)}"
    training = [(prepared, [r for r in prepared.select(datamodule.split) if r.expression in classes])
                for prepared in datamodule.prepared]
    return training, f"training crops: {datamodule.split}, no held-out people"


@register_method("ssvae", config=SSVAEConfig, labelled=LabelledOptions, options=TrainOptions)
def train_ssvae(
    data: DataSource | Sequence[DataSource],
    out: str | Path,
    split: str = "train",
    config: SSVAEConfig | None = None,
    labelled: LabelledOptions | None = None,
    options: TrainOptions | None = None,
    callbacks: tuple[Callback, ...] = (),
) -> TrainResult:
    """The paper's semi-supervised beta-VAE: its latent is also the classification layer (alpha BCE + beta
    KL + gamma cross-entropy, 1, 2, 10); a classifier and a synthesizer along the class axes.

    Trains on the labelled crops of ``split`` of one or several prepared folders
    (neutral among them) into the folder ``out``; ``config`` defaults to the
    ``cpu`` preset, its channels and classes follow the data. The summary holds
    the latent's accuracy and confusion matrix on held-out people; the model
    records each class axis's range over the training crops (its traversal's);
    :data:`DISTRIBUTION_PLOT` shows the latent means along the class axes by
    true expression (held-out people, else the training crops).
    Rerunning after an interruption resumes.

    Raises:
        BadInputError: unreadable data, no labelled crops, or ``out`` already holds a finished model.
        ValueError: no neutral crops among the classes.
    """
    out_dir = Path(out)
    check_out_dir(out_dir)
    options, labelled = options or TrainOptions(), labelled or LabelledOptions()
    datamodule = emotion_datamodule(data, split, options, labelled, out_dir)
    config = (config or SSVAEConfig.from_preset("cpu")).for_data(datamodule.channels, datamodule.classes)
    L.seed_everything(options.seed, workers=True, verbose=False)
    weights = {"bce": config.alpha, "kl": config.beta, "ce": config.gamma}
    module = GenerativeModule(SSVAEMethod(config), weights, options.lr, options.augment)
    describe = {"stage": "ssvae", **datamodule.describe(), "ssvae": config.to_dict(), "labelled": labelled.to_dict()}
    result = run_training(module, datamodule, out_dir, options, callbacks, describe)
    if result.model is None or result.summary is None:
        return result
    result.model = result.model.with_axis_ranges(axis_ranges(result.model, datamodule))
    scores = held_out_scores(result.model.classify, data, config.classes)
    result.summary = record_in_summary(out_dir, result.model, result.summary, held_out=scores)
    parts, crops = distribution_crops(datamodule, config.classes)
    write_axis_distribution(AxisFeatures(result.model), parts, out_dir / DISTRIBUTION_PLOT, crops=crops)
    return result
