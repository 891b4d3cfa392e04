"""Lightning callbacks: the thesis' stopping rule, the incremental beta schedule, a run clock."""

from __future__ import annotations

import math
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from facexpr.training.options import BetaSchedule

VAL_METRIC = "val_mse"
TRAIN_METRIC = "train_mse"


def departure_exceeded(val_mse: float, train_mse: float, departure: float) -> bool:
    """The thesis' overfitting test: validation error above training error by more than ``departure`` (a fraction)."""
    return departure > 0 and val_mse > (1.0 + departure) * train_mse


class ThesisStopping(Callback):
    """Stop when validation MSE departs from training MSE by more than ``departure`` (after ``warmup`` epochs),
    or when it has not improved for ``patience`` epochs.

    Reads ``val_mse`` and ``train_mse`` (per-pixel MSE of the epoch) from the
    logged metrics at the end of each validation. Its state (best value and
    epoch, epochs waited, reason) is saved in checkpoints, so a resumed run
    keeps counting. All processes of a distributed run stop together.
    """

    def __init__(self, departure: float = 0.3, warmup: int = 5, patience: int = 10):
        self.departure = departure
        self.warmup = warmup
        self.patience = patience
        self.best = math.inf
        self.best_epoch = -1
        self.wait = 0
        self.reason: str | None = None

    @property
    def state_key(self) -> str:
        """One instance per run: a fixed key."""
        return "ThesisStopping"

    def check(self, epoch: int, val_mse: float, train_mse: float | None) -> str | None:
        """Record one epoch's errors; the reason to stop, or None to go on."""
        if not math.isfinite(val_mse):
            return f"diverged: validation MSE is {val_mse} (epoch {epoch})"
        if val_mse < self.best:
            self.best, self.best_epoch, self.wait = val_mse, epoch, 0
        else:
            self.wait += 1
        if train_mse is not None and epoch >= self.warmup and departure_exceeded(val_mse, train_mse, self.departure):
            return (f"departure: validation MSE {val_mse:.4g} is more than {self.departure:.0%} "
                    f"above training MSE {train_mse:.4g} (epoch {epoch})")
        if self.wait >= self.patience:
            return f"patience: no better validation MSE for {self.patience} epochs (best {self.best:.4g} at epoch {self.best_epoch})"
        return None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Apply the rule after each epoch's validation."""
        metrics = trainer.callback_metrics
        if trainer.sanity_checking or VAL_METRIC not in metrics:
            return
        train = metrics.get(TRAIN_METRIC)
        reason = self.check(trainer.current_epoch, float(metrics[VAL_METRIC]), None if train is None else float(train))
        if trainer.strategy.reduce_boolean_decision(reason is not None, all=False):
            trainer.should_stop = True
            self.reason = reason or "stopped by another process"

    def state_dict(self) -> dict[str, Any]:
        """Best value and epoch, epochs waited and stop reason (for resume)."""
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait, "reason": self.reason}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the counters of an interrupted run."""
        self.best, self.best_epoch = state_dict["best"], state_dict["best_epoch"]
        self.wait, self.reason = state_dict["wait"], state_dict["reason"]


def next_beta(beta: float, epoch: int, train_mse: float | None, schedule: BetaSchedule) -> float:
    """Beta for the epoch after ``epoch`` (0-based): raised by ``factor`` at every ``every``-th epoch end
    while the training reconstruction MSE is under ``threshold``, never above ``maximum``."""
    if schedule.schedule != "incremental" or (epoch + 1) % schedule.every != 0:
        return beta
    if train_mse is None or train_mse >= schedule.threshold:
        return beta
    return min(schedule.maximum, beta * schedule.factor)


class IncrementalBeta(Callback):
    """The thesis' beta schedule for stage 1: sets the weight of the ``kl`` term (``pl_module.weights["kl"]``)
    from :func:`next_beta` after each epoch."""

    def __init__(self, schedule: BetaSchedule):
        self.schedule = schedule
        self.beta = schedule.initial

    @property
    def state_key(self) -> str:
        """One instance per run: a fixed key."""
        return "IncrementalBeta"

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Give the module the current beta (the restored one when resuming)."""
        pl_module.weights["kl"] = self.beta

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Raise beta when the schedule says so."""
        if trainer.sanity_checking:
            return
        train = trainer.callback_metrics.get(TRAIN_METRIC)
        self.beta = next_beta(self.beta, trainer.current_epoch, None if train is None else float(train), self.schedule)
        pl_module.weights["kl"] = self.beta

    def state_dict(self) -> dict[str, Any]:
        """The current beta (for resume)."""
        return {"beta": self.beta}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore beta."""
        self.beta = state_dict["beta"]


class TrainingClock(Callback):
    """Training seconds summed over every run of the same folder, and the step a run resumed at."""

    def __init__(self) -> None:
        self.previous = 0.0
        self.started: float | None = None
        self.start_step = 0

    @property
    def state_key(self) -> str:
        """One instance per run: a fixed key."""
        return "TrainingClock"

    @property
    def seconds(self) -> float:
        """Seconds of training so far, earlier interrupted runs included."""
        return self.previous + (time.perf_counter() - self.started if self.started is not None else 0.0)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Start timing; remember the (restored) global step."""
        self.started = time.perf_counter()
        self.start_step = trainer.global_step

    def state_dict(self) -> dict[str, Any]:
        """Seconds so far (for resume)."""
        return {"seconds": self.seconds}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Add the seconds of the interrupted runs."""
        self.previous = state_dict["seconds"]
