"""What the two stages' LightningModules share: input preparation, epoch MSEs, logging and the optimizer."""

from __future__ import annotations

import abc

import lightning as L
import torch
from torchmetrics import MeanMetric

from facexpr.data.augment import FaceAugment
from facexpr.models.base import FaceModel
from facexpr.models.base import resize_to
from facexpr.training.callbacks import TRAIN_METRIC, VAL_METRIC


class StageModule(L.LightningModule, abc.ABC):
    """A LightningModule with a ``net`` whose epoch-level per-pixel MSEs are ``train_mse`` and ``val_mse``.

    Subclasses compute their loss terms and call :meth:`log_terms` (each term
    is logged separately as ``train/<name>`` and ``val/<name>``) and
    :meth:`record_mse`; :meth:`export` turns the trained ``net`` into a
    :class:`FaceModel`.
    """

    def __init__(self, size: int, lr: float, augment: bool):
        super().__init__()
        self.size = size
        self.lr = lr
        self.augment = FaceAugment() if augment else None
        # NaN passes through (the default would drop it and hide a diverging run from the stopping rule)
        self.train_mse = MeanMetric(nan_strategy="disable")
        self.val_mse = MeanMetric(nan_strategy="disable")

    def prepare(self, *images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Resize to the model's size and, in training, augment with one draw per sample shared by all tensors."""
        images = tuple(resize_to(image, self.size) for image in images)
        if self.training and self.augment is not None:
            with torch.no_grad():
                out = self.augment(*images)
            images = (out,) if isinstance(out, torch.Tensor) else out
        return images

    def log_terms(self, stage: str, terms: dict[str, torch.Tensor | float], batch_size: int) -> None:
        """Log each loss term as ``<stage>/<name>`` (per step and per epoch in training, per epoch in validation)."""
        training = stage == "train"
        for name, value in terms.items():
            self.log(f"{stage}/{name}", value, batch_size=batch_size, on_step=training, on_epoch=True,
                     prog_bar=name == "loss", sync_dist=not training)

    def record_mse(self, output: torch.Tensor, target: torch.Tensor) -> None:
        """Accumulate the per-pixel MSE of each item into the epoch's training or validation mean."""
        per_item = (output.detach() - target).pow(2).flatten(1).mean(1)
        (self.train_mse if self.training else self.val_mse).update(per_item)

    def on_validation_epoch_end(self) -> None:
        """Log the epoch's ``val_mse`` and ``train_mse`` (synchronised across processes) for checkpoints and stopping."""
        if self.trainer.sanity_checking:
            self.val_mse.reset()
            return
        self.log(VAL_METRIC, self.val_mse.compute(), prog_bar=True)
        self.val_mse.reset()
        if self.train_mse.update_count:
            self.log(TRAIN_METRIC, self.train_mse.compute())
            self.train_mse.reset()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam on the trainable parameters (a frozen decoder and teacher encoder are left out)."""
        return torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=self.lr)

    @abc.abstractmethod
    def export(self) -> FaceModel:
        """The trained network as a :class:`FaceModel` on the CPU."""
