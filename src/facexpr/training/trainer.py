"""The Lightning loop every trained family shares: Trainer, checkpoints and resume, logs, export and summary.

A run writes into one folder ``DIR``:

* ``DIR/checkpoints/best.ckpt`` (lowest monitored validation metric, ``val_mse`` unless the method says) and ``last.ckpt``
  (refreshed every epoch, on interruption, and every ``checkpoint_every``
  steps). Rerunning the same command while ``last.ckpt`` exists resumes from
  it: epoch, global step, optimizer, beta, stopping counters. These are
  Lightning's (pickle) checkpoints, for resuming inside the training folder only.
* ``DIR/logs/csv`` and ``DIR/logs/tensorboard``.
* the model itself, ``DIR/config.json`` + ``DIR/weights.safetensors`` (the
  best epoch's weights; loads with :func:`facexpr.load_model`, no pickle), and
  ``DIR/summary.json``: epochs, best validation MSE and epoch, stop reason,
  seconds, the final value of every logged loss term.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import lightning as L
import torch
from lightning.pytorch.callbacks import (
    Callback,
    EarlyStopping,
    EMAWeightAveraging,
    ModelCheckpoint,
    RichProgressBar,
)
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from facexpr.io import BadInputError, write_text_atomic
from facexpr.metrics import json_safe
from facexpr.models.base import FaceModel
from facexpr.training.callbacks import VAL_METRIC, ThesisStopping, TrainingClock
from facexpr.training.data import SupervisionDataModule
from facexpr.training.module import GenerativeModule
from facexpr.training.options import TrainOptions

SUMMARY_FILE = "summary.json"
CHECKPOINTS = "checkpoints"
LAST = "last"
BEST = "best"


@dataclass
class TrainResult:
    """What a run returns: the model and its summary on the main process (None on the other processes)."""

    out_dir: Path
    model: FaceModel | None
    summary: dict[str, Any] | None


#: Lightning's loggers: INFO (banner, tips, "Trainer.fit stopped") only with ``TrainOptions.verbose``.
LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric")

def last_checkpoint(out_dir: Path) -> Path | None:
    """``DIR/checkpoints/last.ckpt`` when an earlier run of this folder left one (then the run resumes)."""
    path = out_dir / CHECKPOINTS / f"{LAST}.ckpt"
    return path if path.is_file() else None


def check_out_dir(out_dir: Path) -> None:
    """Refuse a folder that already holds a finished training (rerunning an interrupted one resumes it).

    Raises:
        BadInputError: ``DIR/summary.json`` exists, or ``DIR`` is a file.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInputError(out_dir, "exists and is not a folder")
    if (out_dir / SUMMARY_FILE).is_file():
        raise BadInputError(out_dir, "already holds a trained model (summary.json); choose another --out")


def build_trainer(
    out_dir: Path, options: TrainOptions, callbacks: Sequence[Callback], steps_per_epoch: int,
    monitor: str = VAL_METRIC,
) -> tuple[L.Trainer, ModelCheckpoint]:
    """A Trainer with best/last checkpoints, CSV + TensorBoard logs, rich progress, the hardware options and,
    with ``ema_decay``, weight averaging of every network (the checkpoints then hold the averaged weights).

    Returns the trainer and its best-``monitor`` checkpoint callback.
    """
    folder = out_dir / CHECKPOINTS
    best = ModelCheckpoint(dirpath=folder, filename=BEST, monitor=monitor, mode="min", save_top_k=1,
                           enable_version_counter=False, auto_insert_metric_name=False)
    last = ModelCheckpoint(dirpath=folder, filename=LAST, every_n_epochs=1, save_on_train_epoch_end=True,
                           save_on_exception=True, enable_version_counter=False)
    extra: list[Callback] = [best, last]
    if options.ema_decay:
        extra.insert(0, EMAWeightAveraging(decay=options.ema_decay))
    if options.checkpoint_every:
        extra.append(ModelCheckpoint(dirpath=folder, filename=LAST, every_n_train_steps=options.checkpoint_every,
                                     enable_version_counter=False))
    if options.progress:
        extra.append(RichProgressBar())
    for name in LIGHTNING_LOGGERS:  # its banner and tips are INFO records; it sets INFO when imported
        logging.getLogger(name).setLevel(logging.INFO if options.verbose else logging.WARNING)
    loggers = [CSVLogger(out_dir / "logs", name="csv"), TensorBoardLogger(out_dir / "logs", name="tensorboard")]
    trainer = L.Trainer(
        default_root_dir=out_dir,
        max_epochs=options.epochs,
        max_steps=options.max_steps,
        accelerator=options.accelerator,
        devices=options.devices,
        strategy=options.strategy,
        num_nodes=options.num_nodes,
        precision=options.precision,
        callbacks=[*callbacks, *extra],
        logger=loggers if options.logs else False,
        enable_progress_bar=options.progress,
        enable_model_summary=options.verbose,
        num_sanity_val_steps=0,
        log_every_n_steps=max(1, min(50, steps_per_epoch)),
    )
    return trainer, best


def _best_weights(module: GenerativeModule, checkpoint: str) -> None:
    """Load the best checkpoint's weights into ``module`` (tensors only)."""
    module.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"])


def stopping_callback(options: TrainOptions, monitor: str) -> ThesisStopping | EarlyStopping:
    """The stopping rule: the thesis' (validation MSE departing from training MSE, or no new best for
    ``patience`` epochs) when the run follows ``val_mse``; otherwise Lightning's EarlyStopping on ``monitor``
    with ``patience``, which also stops as soon as the metric is not finite."""
    if monitor == VAL_METRIC:
        return ThesisStopping(options.departure, options.warmup, options.patience)
    return EarlyStopping(monitor=monitor, mode="min", patience=options.patience, check_finite=True)


def _final_terms(trainer: L.Trainer) -> dict[str, float]:
    """The last epoch-level value of every logged metric (step-level values left out)."""
    return {
        name.removesuffix("_epoch"): round(float(value), 6)
        for name, value in sorted(trainer.callback_metrics.items())
        if not name.endswith("_step") and torch.is_tensor(value) and value.numel() == 1
    }


def _stop_reason(stopping: ThesisStopping | EarlyStopping, trainer: L.Trainer) -> str | None:
    """Why the stopping rule ended the run (None: it did not)."""
    if isinstance(stopping, ThesisStopping):
        return stopping.reason
    return f"early stopping on {stopping.monitor} (epoch {stopping.stopped_epoch})" if stopping.stopped_epoch else None


def _best_epoch(best: ModelCheckpoint) -> int | None:
    """The epoch of the best checkpoint, from its saved loop state (None when none was saved)."""
    if not best.best_model_path:
        return None
    return int(torch.load(best.best_model_path, map_location="cpu", weights_only=True)["epoch"])


def run_training(
    module: GenerativeModule,
    datamodule: SupervisionDataModule,
    out_dir: Path,
    options: TrainOptions,
    callbacks: Sequence[Callback] = (),
    describe: dict[str, Any] | None = None,
) -> TrainResult:
    """Fit ``module`` (resuming from ``DIR/checkpoints/last.ckpt`` if present), then export the best epoch.

    ``callbacks`` are added to the stopping rule, the clock and the checkpoints;
    ``describe`` (data, split, configs) goes into the summary. The model
    directory and ``summary.json`` are written by the main process only.
    """
    monitor = module.method.monitor
    stopping = stopping_callback(options, monitor)
    clock = TrainingClock()
    steps_per_epoch = len(datamodule.train_dataloader())
    trainer, best = build_trainer(out_dir, options, [stopping, clock, *callbacks], steps_per_epoch, monitor)
    resume = last_checkpoint(out_dir)
    with warnings.catch_warnings():
        # A frozen stage-1 decoder and teacher encoder are in eval mode on purpose.
        warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
        # Mid-epoch checkpoints hold the weights after the step they are taken at, which is what resuming wants.
        warnings.filterwarnings("ignore", message=r".*manual optimization and every_n_train_steps.*")
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume) if resume else None)
    if not trainer.is_global_zero:
        return TrainResult(out_dir, None, None)
    if best.best_model_path:
        _best_weights(module, best.best_model_path)
    stopped = _stop_reason(stopping, trainer) or (
        "max_steps" if 0 <= options.max_steps <= trainer.global_step else "max_epochs")
    summary = {
        **(describe or {}),
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        "resumed_from_step": clock.start_step or None,
        "monitor": monitor,
        f"best_{monitor}": None if best.best_model_score is None else round(float(best.best_model_score), 6),
        "best_epoch": _best_epoch(best),
        "stop_reason": stopped,
        "seconds": round(clock.seconds, 2),
        "final": _final_terms(trainer),
        "options": options.to_dict(),
    }
    model = module.export()
    model.save(out_dir, extra={"training": json_safe(summary)})
    write_text_atomic(out_dir / SUMMARY_FILE, json.dumps(json_safe(summary), indent=2))
    return TrainResult(out_dir, model, summary)
