"""Options of a training run (loop, stopping, hardware) and of stage 1's beta schedule."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

BETA_SCHEDULES = ("incremental", "fixed")


@dataclass(frozen=True)
class TrainOptions:
    """How to run one training: the loop, the stopping rule, the hardware and what to record.

    Attributes:
        epochs: maximum number of epochs.
        batch_size: items per step (per device).
        lr: Adam learning rate.
        seed: seeds Python, NumPy and torch (and DataLoader workers).
        patience: epochs without a new best validation MSE before stopping.
        departure: the thesis' rule: stop when validation MSE exceeds training
            MSE by more than this fraction (0.3 = 30%; 0 disables the rule)...
        warmup: ...but only from this epoch on (the first epochs are noisy).
        augment: random flip, jitter, perspective and rotation of the training
            crops (one draw shared by a sample's inputs and target).
        accelerator, devices, strategy, num_nodes, precision: passed to
            ``lightning.Trainer`` (e.g. ``gpu``, ``2``, ``ddp``, ``4``, ``16-mixed``).
        checkpoint_every: also refresh ``checkpoints/last.ckpt`` every this many
            steps (0: only at epoch ends and on interruption).
        max_steps: stop after this many optimizer steps (-1: no limit).
        progress: show the rich progress bar.
        verbose: let Lightning print its hardware banner, tips and model summary (``facexpr --verbose``).
        logs: write CSV and TensorBoard logs under ``DIR/logs``.
        workers: DataLoader worker processes (0: load in the training process).
        min_epoch_items: an epoch draws at least this many training items (a
            dataset smaller than that is gone through several times, each time
            in a new order and with new augmentations), so that a few dozen
            faces still make enough optimizer steps per epoch for the stopping
            rule and the beta schedule, which count epochs (0: one pass).
        ema_decay: validate, checkpoint and export an exponential moving
            average of the weights, updated every step with this decay
            (Lightning's ``EMAWeightAveraging``); it smooths the step-to-step
            noise that small datasets give the chosen epoch (0: the raw weights).
    """

    epochs: int = 60
    batch_size: int = 16
    lr: float = 1e-3
    seed: int = 0
    patience: int = 10
    departure: float = 0.3
    warmup: int = 5
    augment: bool = True
    accelerator: str = "auto"
    devices: int | str = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str = "32-true"
    checkpoint_every: int = 0
    max_steps: int = -1
    progress: bool = True
    verbose: bool = field(default=False, metadata={"cli": False})  # facexpr --verbose
    logs: bool = True
    workers: int = 0
    min_epoch_items: int = field(default=512, metadata={"flag": "--epoch-items"})
    ema_decay: float = field(default=0.0, metadata={"flag": "--ema"})

    def __post_init__(self) -> None:
        """Reject impossible values (ValueError, one line)."""
        if self.epochs < 1 or self.batch_size < 1 or self.num_nodes < 1:
            raise ValueError("epochs, batch size and number of nodes must be at least 1")
        if not 0 <= self.ema_decay < 1:
            raise ValueError("ema_decay must be in [0, 1)")
        if self.lr <= 0 or self.departure < 0:
            raise ValueError("the learning rate must be positive and the departure threshold not negative")
        if self.patience < 1 or min(self.warmup, self.checkpoint_every, self.workers, self.min_epoch_items) < 0:
            raise ValueError("patience must be at least 1; warmup, checkpoint_every, workers and min_epoch_items not negative")

    def to_dict(self) -> dict[str, Any]:
        """The options as a plain dict (recorded in the training summary)."""
        return asdict(self)


@dataclass(frozen=True)
class BetaSchedule:
    """Weight of the KL term in stage 1.

    Attributes:
        schedule: ``incremental`` (the thesis): beta starts at ``start`` and is
            multiplied by ``factor`` (capped at ``maximum``) every ``every``
            epochs while the training reconstruction MSE (per pixel) is under
            ``threshold``; ``fixed``: beta is ``fixed`` throughout.
        start: incremental: the first beta.
        factor: incremental: what beta is multiplied by.
        every: incremental: epochs between raises.
        threshold: incremental: raise beta only while the training MSE is under this.
        maximum: incremental: the largest beta.
        fixed: fixed: beta throughout.
    """

    schedule: str = field(default="incremental", metadata={"flag": "--beta"})
    start: float = field(default=0.001, metadata={"flag": "--beta-start"})
    factor: float = field(default=10.0, metadata={"flag": "--beta-factor"})
    every: int = field(default=5, metadata={"flag": "--beta-every"})
    threshold: float = field(default=0.02, metadata={"flag": "--beta-threshold"})
    maximum: float = field(default=1.0, metadata={"flag": "--beta-max"})
    fixed: float = field(default=2.0, metadata={"flag": "--beta-fixed"})

    def __post_init__(self) -> None:
        """Reject unknown schedules and impossible values (ValueError, one line)."""
        if self.schedule not in BETA_SCHEDULES:
            raise ValueError(f"unknown beta schedule {self.schedule!r}; choose from {', '.join(BETA_SCHEDULES)}")
        if self.start < 0 or self.factor < 1 or self.every < 1 or self.maximum < 0 or self.fixed < 0:
            raise ValueError("beta values must not be negative, the factor at least 1 and every at least 1 epoch")

    @property
    def initial(self) -> float:
        """Beta at the first epoch."""
        return self.start if self.schedule == "incremental" else self.fixed

    def to_dict(self) -> dict[str, Any]:
        """The schedule as a plain dict (recorded in the training summary)."""
        return asdict(self)
