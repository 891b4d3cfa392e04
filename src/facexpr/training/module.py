"""One LightningModule for every generative family: a :class:`TrainingMethod` says what to learn, the module
how (optimizer steps, weighted named losses, logging, the validation metric).

A method holds its networks (the *generator*, what is exported, plus any
discriminator or auxiliary network), runs a batch into named outputs, and
gives each *player* (an optimizer's owner: ``generator``, ``discriminator``,
...) its named loss terms. :class:`GenerativeModule` steps the players in the
method's order on every batch with manual optimization, so an adversarial
method needs no other loop: a player's loss is the sum of its terms weighted by
``weights`` (the config's; a term without a weight is logged, not optimised),
and every term and weight is logged as ``train/<name>`` and ``val/<name>``.
The epoch's per-pixel MSE of the output against the target is ``train_mse`` /
``val_mse``, which checkpoints and the stopping rules follow unless the method
monitors another metric.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric

from facexpr.data.augment import FaceAugment
from facexpr.models.base import FaceModel, resize_to
from facexpr.training.callbacks import TRAIN_METRIC, VAL_METRIC

GENERATOR = "generator"
#: The optimizers a module can give its players.
OPTIMIZERS = ("adam", "sgd")


class TrainingMethod(nn.Module, abc.ABC):
    """How one family learns. Subclasses set :attr:`players` when more than the generator optimises.

    Attributes:
        players: the optimizers' owners, in the order they step on each batch.
        monitor: the validation metric that checkpoints and stopping follow (lower is better).
        size: the crop side the networks work at (batches are resized to it).
        image_keys: the keys of a dict batch whose images are resized and augmented together (a tensor batch
            is one image tensor).
    """

    players: ClassVar[tuple[str, ...]] = (GENERATOR,)
    image_keys: ClassVar[tuple[str, ...]] = ("inputs", "target")
    monitor: ClassVar[str] = VAL_METRIC

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    @property
    @abc.abstractmethod
    def generator(self) -> nn.Module:
        """The network that is exported (and whose checkpointed weights the best epoch restores)."""

    def images(self, batch: Any) -> tuple[torch.Tensor, ...]:
        """The batch's image tensors that are resized and augmented together (one draw per sample)."""
        return (batch,) if isinstance(batch, torch.Tensor) else tuple(batch[key] for key in self.image_keys)

    def with_images(self, batch: Any, images: tuple[torch.Tensor, ...]) -> Any:
        """The batch with its image tensors replaced (inverse of :meth:`images`)."""
        return images[0] if isinstance(batch, torch.Tensor) else {**batch, **dict(zip(self.image_keys, images))}

    @abc.abstractmethod
    def run(self, batch: Any) -> dict[str, torch.Tensor]:
        """One batch through the networks: named tensors, at least ``output`` and ``target`` (B, C, S, S)."""

    @abc.abstractmethod
    def losses(self, player: str, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The unweighted named loss terms (and diagnostics) of ``player`` on :meth:`run`'s outputs."""

    def parameters_of(self, player: str) -> Iterable[nn.Parameter]:
        """What ``player``'s optimizer updates: by default the generator's trainable parameters."""
        return (p for p in self.generator.parameters() if p.requires_grad)

    @abc.abstractmethod
    def export(self) -> FaceModel:
        """The trained generator as a :class:`FaceModel` on the CPU."""


def weighted_sum(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    """Sum of the terms that have a weight, each times its weight (terms without one are diagnostics).

    Raises:
        ValueError: no term has a weight (nothing to optimise).
    """
    weighted = [weights[name] * value for name, value in terms.items() if name in weights]
    if not weighted:
        raise ValueError(f"no weighted loss among {', '.join(terms)} (weights: {', '.join(weights)})")
    return torch.stack(weighted).sum()


class GenerativeModule(L.LightningModule):
    """Trains a :class:`TrainingMethod`: one Adam optimizer per player, stepped in order on every batch.

    Args:
        method: the family's networks and losses.
        weights: loss term name -> weight (mutable: a schedule such as the
            thesis' beta changes ``weights["kl"]`` between epochs).
        lr: Adam learning rate of every player (``lrs`` overrides per player).
        augment: random flip, jitter, perspective and rotation of the training
            crops, one draw per sample shared by its images.
        betas: Adam's betas (GANs usually want (0.5, 0.999)).
        lrs: per-player learning rates.
        optimizer: ``adam``, or ``sgd`` (with ``momentum``), as some papers trained.
        momentum: SGD's momentum.
        steps_per_batch: optimizer steps of every player on each batch (a
            published remedy for a generator that ignores its condition: several
            iterations on one batch before the next).
    """

    def __init__(self, method: TrainingMethod, weights: Mapping[str, float], lr: float = 1e-3, augment: bool = True,
                 betas: tuple[float, float] = (0.9, 0.999), lrs: Mapping[str, float] | None = None,
                 optimizer: str = "adam", momentum: float = 0.0, steps_per_batch: int = 1):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
        if steps_per_batch < 1:
            raise ValueError(f"steps_per_batch must be at least 1, got {steps_per_batch}")
        super().__init__()
        self.automatic_optimization = False
        self.method = method
        self.weights = dict(weights)
        self.lr = lr
        self.lrs = dict(lrs or {})
        self.betas = betas
        self.optimizer_name = optimizer
        self.momentum = momentum
        self.steps_per_batch = steps_per_batch
        self.augment = FaceAugment() if augment else None
        # NaN passes through (the default would drop it and hide a diverging run from the stopping rules)
        self.train_mse = MeanMetric(nan_strategy="disable")
        self.val_mse = MeanMetric(nan_strategy="disable")

    @property
    def net(self) -> nn.Module:
        """The generator (what the best checkpoint restores and :meth:`export` saves)."""
        return self.method.generator

    def prepare(self, batch: Any) -> Any:
        """Resize the batch's images to the method's size and, in training, augment them (one draw per sample)."""
        images = tuple(resize_to(image, self.method.size) for image in self.method.images(batch))
        if self.training and self.augment is not None:
            with torch.no_grad():
                out = self.augment(*images)
            images = (out,) if isinstance(out, torch.Tensor) else tuple(out)
        return self.method.with_images(batch, images)

    def log_terms(self, stage: str, terms: Mapping[str, torch.Tensor | float], batch_size: int) -> None:
        """Log each term as ``<stage>/<name>`` (per step and per epoch in training, per epoch in validation)."""
        training = stage == "train"
        for name, value in terms.items():
            self.log(f"{stage}/{name}", value, batch_size=batch_size, on_step=training, on_epoch=True,
                     prog_bar=name == "loss", sync_dist=not training)

    def _record_mse(self, outputs: dict[str, torch.Tensor]) -> None:
        """Accumulate each item's per-pixel MSE of output against target into the epoch's mean."""
        per_item = (outputs["output"].detach() - outputs["target"]).pow(2).flatten(1).mean(1)
        (self.train_mse if self.training else self.val_mse).update(per_item)

    def _optimizers(self) -> list[Any]:
        """The players' optimizers in :attr:`TrainingMethod.players` order."""
        optimizers = self.optimizers()
        return list(optimizers) if isinstance(optimizers, (list, tuple)) else [optimizers]

    def training_step(self, batch: Any, batch_idx: int) -> None:
        """Every player in turn: its weighted loss, backward through its own parameters only, one step; all of
        it ``steps_per_batch`` times on the same (augmented) batch."""
        batch = self.prepare(batch)
        logged: dict[str, torch.Tensor | float] = {}
        for _ in range(self.steps_per_batch):
            outputs = self.method.run(batch)
            for player, optimizer in zip(self.method.players, self._optimizers()):
                self.toggle_optimizer(optimizer)
                terms = self.method.losses(player, outputs)
                loss = weighted_sum(terms, self.weights)
                optimizer.zero_grad()
                self.manual_backward(loss)
                optimizer.step()
                self.untoggle_optimizer(optimizer)
                prefix = "" if player == GENERATOR else f"{player}_"
                logged.update({f"{prefix}{name}": value.detach() for name, value in terms.items()})
                logged[f"{prefix}loss"] = loss.detach()
        size = outputs["output"].shape[0]
        logged.update({f"weight_{name}": float(value) for name, value in self.weights.items()})
        self.log_terms("train", logged, size)
        self._record_mse(outputs)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """The generator's terms and loss on a validation batch (no step)."""
        batch = self.prepare(batch)
        outputs = self.method.run(batch)
        terms = self.method.losses(GENERATOR, outputs)
        self.log_terms("val", {**terms, "loss": weighted_sum(terms, self.weights)}, outputs["output"].shape[0])
        self._record_mse(outputs)

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

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """One optimizer per player (Adam, or SGD with momentum), on that player's trainable parameters."""
        optimizers = []
        for player in self.method.players:
            parameters, lr = list(self.method.parameters_of(player)), self.lrs.get(player, self.lr)
            optimizers.append(torch.optim.SGD(parameters, lr=lr, momentum=self.momentum)
                              if self.optimizer_name == "sgd" else torch.optim.Adam(parameters, lr=lr, betas=self.betas))
        return optimizers

    def export(self) -> FaceModel:
        """The trained generator as a :class:`FaceModel` on the CPU."""
        return self.method.export()
