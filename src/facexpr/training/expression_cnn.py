"""The emotion-VAE paper's expression classifier (issue 13): ``facexpr train expression-cnn``.

C8 - C32 - flatten - F256 - F100 - dropout 0.5 - K, trained by cross-entropy on
labelled crops of one or several prepared folders; the summary holds its
accuracy and confusion matrix on the people each folder held out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch import nn

from facexpr.io import as_channels
from facexpr.models.emotion.cnn import ExpressionCNNModel, build_cnn
from facexpr.models.emotion.config import ExpressionCNNConfig
from facexpr.training.data import DataSource
from facexpr.training.emotion_data import (
    LABEL_CHART,
    EmotionDataModule,
    LabelledOptions,
    held_out_scores,
    record_in_summary,
    write_label_chart,
)
from facexpr.training.methods import register_method
from facexpr.training.module import GenerativeModule, TrainingMethod
from facexpr.training.options import TrainOptions
from facexpr.training.trainer import TrainResult, check_out_dir, run_training


class LabelledMethod(TrainingMethod):
    """A method on labelled crops (dicts with ``image`` and ``label``), converted to its channel count."""

    image_keys = ("image",)

    def __init__(self, size: int, channels: int):
        super().__init__(size)
        self.channels = channels

    def with_images(self, batch: dict, images: tuple[torch.Tensor, ...]) -> dict:
        """The batch with new crops, in the method's channels."""
        return super().with_images(batch, (as_channels(images[0], self.channels),))


class ExpressionCNNMethod(LabelledMethod):
    """Terms ``ce`` (cross-entropy, weighted 1) and ``accuracy``; ``output`` is the class probabilities and
    ``target`` the one-hot labels, so the module's ``val_mse`` is the Brier score. Checkpoints follow the
    validation cross-entropy."""

    monitor = "val/ce"

    def __init__(self, config: ExpressionCNNConfig):
        super().__init__(config.size, config.channels)
        self.config = config
        self.net = build_cnn(config)

    @property
    def generator(self) -> nn.Module:
        """The classifier."""
        return self.net

    def run(self, batch: dict) -> dict[str, torch.Tensor]:
        """Logits, probabilities and one-hot labels of a batch."""
        label = batch["label"].long()
        logits = self.net(batch["image"])
        return {"logits": logits, "label": label, "output": torch.softmax(logits, 1),
                "target": F.one_hot(label, len(self.config.classes)).to(logits.dtype)}

    def losses(self, player: str, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``ce`` and ``accuracy`` over the batch."""
        return {"ce": F.cross_entropy(outputs["logits"], outputs["label"]),
                "accuracy": (outputs["logits"].argmax(1) == outputs["label"]).float().mean()}

    def export(self) -> ExpressionCNNModel:
        """The trained classifier (on the CPU, in eval mode)."""
        network = build_cnn(self.config)
        network.load_state_dict({k: v.detach().cpu() for k, v in self.net.state_dict().items()})
        return ExpressionCNNModel(self.config, network)


def emotion_datamodule(data: DataSource | Sequence[DataSource], split: str, options: TrainOptions,
                       labelled: LabelledOptions, out_dir: Path) -> EmotionDataModule:
    """The labelled crops of ``split`` (balanced with ``labelled.balance``; then the chart of the label counts
    before and after is written into ``out_dir``)."""
    datamodule = EmotionDataModule(data, split, options.batch_size, options.workers, options.min_epoch_items,
                                   labelled.balance, options.seed)
    if labelled.balance:
        write_label_chart(out_dir / LABEL_CHART, datamodule.counts)
    return datamodule


@register_method("expression-cnn", config=ExpressionCNNConfig, labelled=LabelledOptions, options=TrainOptions)
def train_expression_cnn(
    data: DataSource | Sequence[DataSource],
    out: str | Path,
    split: str = "train",
    config: ExpressionCNNConfig | None = None,
    labelled: LabelledOptions | None = None,
    options: TrainOptions | None = None,
    callbacks: tuple[Callback, ...] = (),
) -> TrainResult:
    """The paper's expression classifier (C8 - C32 - F256 - F100 - dropout - K), by cross-entropy on
    labelled crops; its summary holds accuracy and confusion matrix on held-out people.

    Trains on the crops of ``split`` of one or several prepared folders showing
    a canonical expression into the folder ``out`` (a classifier for ``facexpr
    classify --model OUT``); ``config`` defaults to the ``cpu`` preset, its
    channels and classes follow the data. Rerunning after an interruption resumes.

    Raises:
        BadInputError: unreadable data, no labelled crops, or ``out`` already holds a finished model.
    """
    out_dir = Path(out)
    check_out_dir(out_dir)
    options, labelled = options or TrainOptions(), labelled or LabelledOptions()
    datamodule = emotion_datamodule(data, split, options, labelled, out_dir)
    config = (config or ExpressionCNNConfig.from_preset("cpu")).for_data(datamodule.channels, datamodule.classes)
    L.seed_everything(options.seed, workers=True, verbose=False)
    module = GenerativeModule(ExpressionCNNMethod(config), {"ce": 1.0}, options.lr, options.augment)
    describe = {"stage": "expression-cnn", **datamodule.describe(), "expression_cnn": config.to_dict(),
                "labelled": labelled.to_dict()}
    result = run_training(module, datamodule, out_dir, options, callbacks, describe)
    if result.model is None or result.summary is None:
        return result
    scores = held_out_scores(result.model.classify, data, config.classes)
    result.summary = record_in_summary(out_dir, result.model, result.summary, held_out=scores)
    return result
