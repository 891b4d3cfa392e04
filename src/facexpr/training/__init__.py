"""Training of the two stages with Lightning: checkpoints and resume, logs, the thesis' stopping rule, DDP.

* :func:`train_vae` (stage 1, ``stage1.py``) and :func:`train_neutralizer` (stage 2, ``stage2.py``).
* :class:`TrainOptions` and :class:`BetaSchedule` (``options.py``).
* :class:`ThesisStopping`, :class:`IncrementalBeta`, :class:`TrainingClock` (``callbacks.py``).
* :func:`build_trainer` and :func:`run_training` (``trainer.py``): the loop both stages share.
* :data:`RECIPES`, :func:`fit_family` (``recipes.py``): each family's default training, which
  ``facexpr benchmark`` times.
"""

from facexpr.training.callbacks import IncrementalBeta, ThesisStopping, TrainingClock, departure_exceeded, next_beta
from facexpr.training.options import BETA_SCHEDULES, BetaSchedule, TrainOptions
from facexpr.training.stage1 import VAELightning, train_vae
from facexpr.training.stage2 import NeutralizerLightning, load_stage1, train_neutralizer
from facexpr.training.trainer import SUMMARY_FILE, TrainResult, build_trainer, last_checkpoint, run_training
from facexpr.training.recipes import RECIPES, fit_family, register_recipe  # noqa: E402  isort: skip

__all__ = [
    "RECIPES", "fit_family", "register_recipe", "BETA_SCHEDULES", "BetaSchedule", "IncrementalBeta", "NeutralizerLightning", "SUMMARY_FILE", "ThesisStopping",
    "TrainOptions", "TrainResult", "TrainingClock", "VAELightning", "build_trainer", "departure_exceeded",
    "last_checkpoint", "load_stage1", "next_beta", "run_training", "train_neutralizer", "train_vae",
]
