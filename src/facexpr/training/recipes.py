"""How each model family is trained with its default settings: one registered recipe per family.

Model packages hold networks and inference; how a family is fitted lives here.
A recipe takes a prepared dataset and a split and returns a fitted model;
``facexpr benchmark`` times every registered recipe. The deep families train
briefly with Lightning (a few epochs, quiet, in a temporary folder); the
closed-form families (masked regression and its baselines, the identity and
mean-face baselines) use their own ``fit``; the geometric model its
:func:`~facexpr.training.geometric_fit.fit_geometric`.
"""

from __future__ import annotations

import tempfile
from typing import Callable

from facexpr.data.pairing import PreparedDataset
from facexpr.models import MODEL_FAMILIES, FaceModel
from facexpr.models.cdcgan import CDCGANConfig
from facexpr.models.emotion import FaderConfig, SSVAEConfig
from facexpr.models.neutralizer import NeutralizerConfig
from facexpr.models.nfgan import NFGANConfig
from facexpr.models.twostep import TwoStepConfig
from facexpr.models.vae import VAEConfig
from facexpr.training.cdcgan import train_cdcgan
from facexpr.training.fader import train_fader
from facexpr.training.geometric_fit import fit_geometric
from facexpr.training.neutralizer import train_neutralizer
from facexpr.training.nfgan import train_nfgan
from facexpr.training.options import BetaSchedule, TrainOptions
from facexpr.training.ssvae import train_ssvae
from facexpr.training.trainer import TrainResult
from facexpr.training.twostep import train_twostep
from facexpr.training.vae import train_vae

Recipe = Callable[[PreparedDataset, "str | None"], FaceModel]
#: family -> recipe; filled by :func:`register_recipe` (and, for the closed-form families, from their ``fit``).
RECIPES: dict[str, Recipe] = {}
#: Epochs of the deep families' default recipes (what ``facexpr benchmark`` times).
FIT_EPOCHS = 5
#: Photos per person of the neutralizer's default recipe.
FIT_SHOTS = 3


def register_recipe(family: str) -> Callable[[Recipe], Recipe]:
    """Decorator: ``function(prepared, split)`` fits ``family`` with its default settings."""

    def register(function: Recipe) -> Recipe:
        RECIPES[family] = function
        return function

    return register


def fit_family(family: str, prepared: PreparedDataset, split: str | None = "train") -> FaceModel:
    """Fit ``family`` on ``prepared``'s ``split`` with its default recipe.

    Raises:
        ValueError: no recipe for that family.
    """
    if family not in RECIPES:
        raise ValueError(f"no training recipe for {family!r} (known: {', '.join(sorted(RECIPES))})")
    return RECIPES[family](prepared, split)


def _crop_shape(prepared: PreparedDataset) -> tuple[int, int]:
    """(side, channels) of the dataset's crops: what a recipe builds its networks for."""
    first = prepared.load(prepared.records[0])
    return first.shape[-1], first.shape[0]


def _quick_options() -> TrainOptions:
    """:data:`FIT_EPOCHS` epochs, quiet, no logs."""
    return TrainOptions(epochs=FIT_EPOCHS, progress=False, logs=False)


def _trained(train: Callable[[str], TrainResult]) -> FaceModel:
    """The model of ``train(folder)`` run in a temporary folder (deleted afterwards)."""
    with tempfile.TemporaryDirectory() as folder:
        result = train(folder)
    assert result.model is not None  # a single-process run is always rank 0
    return result.model


@register_recipe("vae")
def fit_vae(prepared: PreparedDataset, split: str | None = "train") -> FaceModel:
    """The CPU preset (ResNet, fixed beta) for :data:`FIT_EPOCHS` epochs at the dataset's crop size."""
    size, channels = _crop_shape(prepared)
    config = VAEConfig.from_preset("cpu", size=size, channels=channels)
    return _trained(lambda folder: train_vae(prepared, folder, config, BetaSchedule("fixed"), _quick_options(),
                                             split=split or "train"))


@register_recipe("neutralizer")
def fit_neutralizer(prepared: PreparedDataset, split: str | None = "train") -> FaceModel:
    """From scratch (CPU preset, blending on, :data:`FIT_SHOTS` photos) for :data:`FIT_EPOCHS` epochs."""
    size, channels = _crop_shape(prepared)
    config = NeutralizerConfig(vae=VAEConfig.from_preset("cpu", size=size, channels=channels), mode="scratch",
                               max_inputs=FIT_SHOTS)
    return _trained(lambda folder: train_neutralizer(prepared, folder, config, None, _quick_options(),
                                                     shots=FIT_SHOTS, split=split or "train"))


@register_recipe("geometric")
def fit_geometric_recipe(prepared: PreparedDataset, split: str | None = "train") -> FaceModel:
    """Shape maps (alpha by subject-level CV), warp and appearance step with the default options."""
    return fit_geometric([prepared], split)


@register_recipe("twostep")
def fit_twostep(prepared: PreparedDataset, split: str | None = "train") -> FaceModel:
    """The cpu preset (both steps, no head) at the dataset's crop size for :data:`FIT_EPOCHS` epochs per step."""
    config = TwoStepConfig.from_preset("cpu", size=_crop_shape(prepared)[0])
    return _trained(lambda folder: train_twostep(prepared, folder, split or "train", config, _quick_options()))


@register_recipe("cdcgan")
def fit_cdcgan(prepared: PreparedDataset, split: str | None = "train") -> FaceModel:
    """The fixed preset at the dataset's crop size for :data:`FIT_EPOCHS` epochs."""
    config = CDCGANConfig.from_preset("fixed", size=_crop_shape(prepared)[0])
    return _trained(lambda folder: train_cdcgan(prepared, folder, split or "train", config, _quick_options()))


@register_recipe("nfgan")
def fit_nfgan(prepared: PreparedDataset, split: str | None = "train") -> FaceModel:
    """The cpu preset at the dataset's crop size for :data:`FIT_EPOCHS` epochs."""
    config = NFGANConfig.from_preset("cpu", size=_crop_shape(prepared)[0])
    return _trained(lambda folder: train_nfgan(prepared, folder, split or "train", config, _quick_options()))


@register_recipe("fader")
def fit_fader(prepared: PreparedDataset, split: str | None = "train") -> FaceModel:
    """The cpu preset (the adversarial condition) at the dataset's crop size for :data:`FIT_EPOCHS` epochs."""
    config = FaderConfig.from_preset("cpu", size=_crop_shape(prepared)[0])
    return _trained(lambda folder: train_fader(prepared, folder, split or "train", config, None, _quick_options()))


@register_recipe("ssvae")
def fit_ssvae(prepared: PreparedDataset, split: str | None = "train") -> FaceModel:
    """The cpu preset (alpha, beta, gamma = 1, 2, 10) at the dataset's crop size for :data:`FIT_EPOCHS` epochs."""
    config = SSVAEConfig.from_preset("cpu", size=_crop_shape(prepared)[0])
    return _trained(lambda folder: train_ssvae(prepared, folder, split or "train", config, None, _quick_options()))


for _family, _model in sorted(MODEL_FAMILIES.items()):  # closed-form families fit themselves
    if hasattr(_model, "fit"):
        RECIPES.setdefault(_family, _model.fit)
