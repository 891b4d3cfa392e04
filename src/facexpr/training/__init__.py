"""How every family is trained: one LightningModule, data modules per supervision, recipes, the loop.

* :class:`TrainingMethod` and :class:`GenerativeModule` (``module.py``): a family's networks and named
  losses, stepped player by player (manual optimization, so adversarial methods fit too).
* :class:`NeutralDataModule`, :class:`PairedDataModule`, :class:`NShotDataModule`,
  :class:`LabelledDataModule`, :class:`ConditionalDataModule` (``data.py``): batches of each kind of
  supervision from one or several prepared folders.
* The thesis' two stages: :func:`train_vae` (``vae.py``) and :func:`train_neutralizer` (``neutralizer.py``);
  the geometric model: :func:`train_geometric` (``geometric.py``); masked regression:
  :func:`train_masked_regression` (``masked_regression.py``); the two-step CNN: :func:`train_twostep`
  (``twostep.py``); the conditional DCGAN: :func:`train_cdcgan` (``cdcgan.py``); the emotion-VAE paper's
  expression classifier: :func:`train_expression_cnn` (``expression_cnn.py``), its Fader network:
  :func:`train_fader` (``fader.py``) and semi-supervised beta-VAE: :func:`train_ssvae` (``ssvae.py``), on
  labelled crops balanced as the paper with :class:`EmotionDataModule` (``emotion_data.py``).
* :class:`TrainOptions` and :class:`BetaSchedule` (``options.py``).
* :class:`ThesisStopping`, :class:`IncrementalBeta`, :class:`TrainingClock` (``callbacks.py``).
* :func:`build_trainer` and :func:`run_training` (``trainer.py``): the loop every family shares.
* :data:`METHODS`, :func:`register_method` (``methods.py``): what ``facexpr train METHOD`` offers, its
  options generated from each method's config dataclasses.
* :data:`RECIPES`, :func:`fit_family` (``recipes.py``): each family's default training, which
  ``facexpr benchmark`` times.
"""

from facexpr.training.callbacks import (
    IncrementalBeta,
    ThesisStopping,
    TrainingClock,
    departure_exceeded,
    next_beta,
)
from facexpr.training.cdcgan import CDCGANMethod, train_cdcgan
from facexpr.training.data import (
    ConditionalDataModule,
    LabelledDataModule,
    NeutralDataModule,
    NShotDataModule,
    PairedDataModule,
    SupervisionDataModule,
)
from facexpr.training.emotion_data import EmotionDataModule, LabelledOptions
from facexpr.training.expression_cnn import ExpressionCNNMethod, train_expression_cnn
from facexpr.training.fader import FaderMethod, train_fader
from facexpr.training.geometric import GeometricRun, train_geometric
from facexpr.training.geometric_fit import fit_geometric
from facexpr.training.masked_regression import (
    MaskedRegressionConfig,
    train_masked_regression,
)
from facexpr.training.methods import METHODS, TrainableMethod, register_method
from facexpr.training.module import GenerativeModule, TrainingMethod
from facexpr.training.neutralizer import (
    NeutralizerMethod,
    Stage1Source,
    load_stage1,
    train_neutralizer,
)
from facexpr.training.nfgan import NFGANMethod, train_nfgan
from facexpr.training.options import BETA_SCHEDULES, BetaSchedule, TrainOptions
from facexpr.training.ssvae import SSVAEMethod, train_ssvae
from facexpr.training.trainer import (
    SUMMARY_FILE,
    TrainResult,
    build_trainer,
    last_checkpoint,
    run_training,
)
from facexpr.training.twostep import Step1Method, Step2Method, train_twostep
from facexpr.training.vae import VAEMethod, train_vae

from facexpr.training.recipes import RECIPES, fit_family, register_recipe  # noqa: E402  isort: skip

__all__ = [
    "BETA_SCHEDULES", "BetaSchedule", "CDCGANMethod", "ConditionalDataModule", "EmotionDataModule",
    "ExpressionCNNMethod", "FaderMethod", "GenerativeModule", "GeometricRun", "LabelledOptions",
    "IncrementalBeta", "LabelledDataModule", "METHODS", "MaskedRegressionConfig", "NShotDataModule",
    "NeutralDataModule", "NeutralizerMethod", "PairedDataModule", "RECIPES", "SSVAEMethod", "SUMMARY_FILE",
    "Stage1Source",
    "Step1Method", "Step2Method", "SupervisionDataModule", "ThesisStopping", "TrainOptions", "TrainResult",
    "TrainableMethod", "TrainingClock", "TrainingMethod", "VAEMethod", "build_trainer", "departure_exceeded",
    "fit_family", "fit_geometric", "last_checkpoint", "load_stage1", "next_beta", "register_method",
    "register_recipe", "run_training", "train_cdcgan", "train_expression_cnn", "train_fader", "train_geometric",
    "train_masked_regression", "train_neutralizer", "train_ssvae", "train_twostep", "train_vae",
    "NFGANMethod", "train_nfgan",
]
