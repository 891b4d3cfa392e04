"""The emotion-VAE paper's Fader network (issue 13): the latent discriminator's loss rises as the encoder
learns to fool it (and falls to nothing without the adversary), the attribute slider moves held-out faces towards
their true expression and further at 1.5, the traversal strips (`facexpr sample --traverse`), the folder loads
without code, resume after a kill, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import expression_crops
from typer.testing import CliRunner

from facexpr.cli import app
from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.synthetic import generate_dataset
from facexpr.faces.cues import expression_cues
from facexpr.io import BadInputError, load_image, to_uint8
from facexpr.judges.geometry import LandmarkJudge
from facexpr.models import (
    Classifier,
    ConditionalModel,
    IdentityModel,
    WarpingModel,
    load_model,
)
from facexpr.models.base import resize_to
from facexpr.models.emotion import FaderConfig, FaderModel, FaderNet
from facexpr.models.geometric import face_region_mask
from facexpr.models.geometric.warp import apply_grid
from facexpr.training.fader import fader_weights, train_fader
from facexpr.training.options import TrainOptions
from facexpr.training.trainer import SUMMARY_FILE

CLASSES = ("neutral", "happy")
#: The test's Fader: 32 px, a small code, a short ramp and a strong adversary so a few epochs show the game; the
#: decoder's own faces (the paper's), which these tests are about.
CONFIG = FaderConfig.from_preset("cpu", size=32, latent=32, ramp_steps=64, adversarial=1.0, on_warp=False)
DISCRIMINATOR_LOSS = "train/discriminator_latent_bce_epoch"
#: The traversal tests' Fader: a code of 8 numbers leaves the expression to y, so ten epochs learn a smile slider
#: (with CONFIG's 32, the happy strips of held-out neutral faces kept their mouth corners: lift 0.033 at both ends
#: after 8 epochs, -0.002 and 0.002 after 25).
SLIDER = CONFIG.with_changes(latent=8)


def options(**changes) -> TrainOptions:
    """Short, quiet, deterministic runs."""
    fields = dict(epochs=8, batch_size=16, lr=2e-3, progress=False, logs=False, patience=50, departure=0.0,
                  augment=False, min_epoch_items=256)
    return TrainOptions(**{**fields, **changes})


class _EpochLosses(L.Callback):
    """Records the discriminator's mean loss of every training epoch."""

    def __init__(self):
        self.losses: list[float] = []

    def on_train_epoch_end(self, trainer, *args) -> None:
        self.losses.append(float(trainer.callback_metrics[DISCRIMINATOR_LOSS]))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """Twenty synthetic people, neutral and happy, 32 px; split by person 70/30."""
    root = tmp_path_factory.mktemp("fader")
    generate_dataset(root / "raw", n_subjects=20, expressions=CLASSES, size=96, seed=5)
    prepare_dataset(root / "raw", root / "prep", PrepareOptions(size=32, split_ratios=(0.7, 0.3, 0.0)))
    return root / "prep"


@pytest.fixture(scope="module")
def runs(prepared, tmp_path_factory) -> dict:
    """The adversarial and the multiclass condition (the same without the adversary), same data and seed,
    each with its discriminator's losses per epoch."""
    out = {}
    for condition in ("adversarial", "multiclass"):
        losses = _EpochLosses()
        result = train_fader(prepared, tmp_path_factory.mktemp(condition) / "fader", "train",
                             CONFIG.with_changes(condition=condition), None, options(), callbacks=(losses,))
        out[condition] = result, losses.losses
    return out


@pytest.fixture(scope="module")
def slider(prepared, tmp_path_factory):
    """The adversarial condition with an 8-number code, ten epochs."""
    return train_fader(prepared, tmp_path_factory.mktemp("slider") / "fader", "train", SLIDER, None, options(epochs=10))


def test_the_discriminator_loss_rises_as_the_encoder_learns_to_fool_it(runs):
    """The multiclass loss puts the expression into z, so the discriminator learns to read it: without the
    adversary its loss falls to nothing; with it, the loss climbs back from its lowest epoch as lambda ramps up
    (when written: multiclass 0.70, 0.31, 0.03, then under 0.003; adversarial 0.70, 0.50, 0.69, 0.85, 0.85,
    0.74, 0.60, 0.73)."""
    adversarial, multiclass = runs["adversarial"][1], runs["multiclass"][1]
    lowest = adversarial.index(min(adversarial))
    assert max(adversarial[lowest:]) > min(adversarial) + 0.15, adversarial
    assert sum(adversarial[-3:]) / 3 > 0.5 and sum(multiclass[-3:]) / 3 < 0.1, (adversarial, multiclass)
    final = runs["adversarial"][0].summary["final"]
    assert final["train/weight_adversarial"] == pytest.approx(CONFIG.adversarial)
    assert "train/adversarial" in final and "train/multiclass" in final



def test_the_slider_dials_the_change_and_strength_0_is_the_reconstruction(runs, prepared):
    """On held-out neutral faces, asking for happy changes the output by a sizeable part of how much the true
    photos differ, strength 1.5 changes it about 1.5 times as much as 1, and strength 0 is the reconstruction
    with the face's own attributes."""
    model = runs["adversarial"][0].model
    true = expression_crops(prepared, "val", CLASSES)
    neutral = true["neutral"].unsqueeze(1)
    start, full, more = (model.predict(neutral, "happy", s) for s in (0.0, 1.0, 1.5))
    moved, real = float((full - start).abs().mean()), float((true["happy"] - true["neutral"]).abs().mean())
    assert moved > 0.25 * real, (moved, real)
    assert 1.2 < float((more - start).abs().mean()) / moved < 1.8
    reconstruction = model.network.decode(model.network.encode(true["neutral"]),
                                          model.network.attributes(model.classify(true["neutral"])))
    torch.testing.assert_close(start, reconstruction.clamp(0, 1))


def _towards_the_smile(model: FaderModel, true: dict[str, torch.Tensor]) -> float:
    """Cosine between the people's mean change (happy at strength 1 minus strength 0, from their neutral
    faces) and their mean true difference (happy photo minus neutral photo)."""
    neutral = true["neutral"].unsqueeze(1)
    change = (model.predict(neutral, "happy", 1.0) - model.predict(neutral, "happy", 0.0)).mean(0)
    return float(F.cosine_similarity(change.flatten(), (true["happy"] - true["neutral"]).mean(0).flatten(), dim=0))


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "not learnt in the test's budget: after 8 epochs on 14 people at 32 px the change points away from the smile "
    "(cosine -0.07); 25 epochs: 0.15 on the training people, 0.05 on held-out ones"))
def test_the_slider_moves_the_training_people_towards_their_smile(runs, prepared):
    towards = _towards_the_smile(runs["adversarial"][0].model, expression_crops(prepared, "train", CLASSES))
    assert towards > 0.05, towards


def test_the_traversal_dials_one_attribute_from_0_to_1_and_the_opposite_way_to_minus_1(slider, prepared):
    """Each held-out face's strip decodes its own code z with y_happy at six equally spaced values from 0 to 1
    (the one-hot labels the decoder trained on), so its first and last faces differ; the opposite strip starts
    at the face's own y (the reconstruction) and ends at -1."""
    model = slider.model
    neutral = expression_crops(prepared, "val", CLASSES)["neutral"]
    traversal = model.traverse(neutral, "smiling")
    assert traversal.expression == "happy" and traversal.faces.shape == (len(neutral), 6, 3, 32, 32)
    assert traversal.opposite.shape == traversal.faces.shape
    torch.testing.assert_close(traversal.values, torch.linspace(0, 1, 6).expand(len(neutral), 6))
    codes = model.network.encode(neutral)
    happiest = model.network.decode(codes, torch.ones(len(neutral), 1)).clamp(0, 1)
    torch.testing.assert_close(traversal.faces[:, -1], happiest)
    changed = float((traversal.faces[:, -1] - traversal.faces[:, 0]).abs().mean())
    assert changed > 0.01, changed
    torch.testing.assert_close(traversal.opposite[:, 0], model.predict(neutral.unsqueeze(1), "happy", 0.0))
    torch.testing.assert_close(traversal.opposite_values[:, -1], torch.full((len(neutral),), -1.0))
    own = model.classify(neutral)[:, CLASSES.index("happy")]
    torch.testing.assert_close(traversal.opposite_values[:, 0], own)


def _lip_corner_lifts(faces: torch.Tensor) -> np.ndarray:
    """The lip-corner lift (dlib's landmarks of the crops, inter-ocular units) of faces (B, C, S, S), as
    ``facexpr evaluate``'s conditional report measures it."""
    return np.array([expression_cues(points).lip_corner_lift for points in LandmarkJudge().landmarks(to_uint8(faces))])


def test_the_smile_slider_lifts_the_mouth_corners(slider, prepared):
    """The issue's check, with the landmark cue ``facexpr evaluate`` reports: along the happy strips of
    held-out neutral faces the lip-corner lift rises, on average and for most people. A weak rise after ten
    epochs (0.015 to 0.034 IOD when written, 5 of 6 people; seeds 1-3: +0.021, +0.010, +0.008, every seed 5 or
    6 of 6) where the people's real smiles add 0.078."""
    traversal = slider.model.traverse(expression_crops(prepared, "val", CLASSES)["neutral"], "happy")
    first, last = _lip_corner_lifts(traversal.faces[:, 0]), _lip_corner_lifts(traversal.faces[:, -1])
    assert float(last.mean() - first.mean()) > 0.005 and (last > first).mean() >= 2 / 3, (first, last)


def test_sample_traverse_writes_a_strip_and_its_opposite_per_face(slider, prepared, tmp_path):
    """`facexpr sample --traverse happy --steps 4 FACE FACE` writes, per face, the input and its four faces
    (two PNGs: the strip and the opposite one)."""
    crops = sorted((prepared / "crops").rglob("neutral_*.png"))[:2]
    out = tmp_path / "strips"
    result = CliRunner().invoke(app, ["sample", "-m", str(slider.out_dir), "--traverse", "happy",
                                      "--steps", "4", *map(str, crops), "-o", str(out)])
    assert result.exit_code == 0, result.output
    names = [f"{n}_{crop.stem}_happy{suffix}.png" for n, crop in enumerate(crops, 1) for suffix in ("", "_opposite")]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    assert load_image(out / names[0]).shape[:2] == (18 + 68 + 4, 8 + 5 * 68 + 4)  # header; input and four faces


@pytest.mark.parametrize("family, extra, message", [
    ("fader", ["--traverse", "angry", "FACE"],
     "fader-adversarial has no attribute for 'angry' to traverse (it has: happy)"),
    ("fader", ["--traverse", "happy"], "--traverse needs FACES"),
    ("fader", ["--traverse", "happy", "--from-noise", "FACE"],
     "choose one of --from-noise, --reconstruct, --interpolate and --traverse"),
    ("fader", ["FACE"], "FACES go with --traverse"),
    ("identity", ["--traverse", "happy", "FACE"],
     "this model has no expression attribute to traverse (family identity); --traverse takes fader, ssvae models"),
])
def test_sample_traverse_bad_input_is_one_line(prepared, tmp_path, family, extra, message):
    crop = next((prepared / "crops").rglob("*.png"))
    model = (FaderModel(CONFIG) if family == "fader" else IdentityModel(32, 3)).save(tmp_path / family)
    args = [str(crop) if a == "FACE" else a for a in extra]
    result = CliRunner().invoke(app, ["sample", "-m", str(model), "-o", str(tmp_path / "out"), *args])
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_the_folder_loads_without_code_and_neutralizes_by_default(runs, prepared):
    result = runs["adversarial"][0]
    loaded = load_model(result.out_dir)
    assert isinstance(loaded, FaderModel) and isinstance(loaded, ConditionalModel) and isinstance(loaded, Classifier)
    assert loaded.target_expression == "neutral" and loaded.task == "neutralize" and loaded.target_expressions == CLASSES
    photos = expression_crops(prepared, "val", CLASSES)["happy"].unsqueeze(1)
    for target, strength in (("neutral", 1.0), ("happy", 1.5)):
        torch.testing.assert_close(loaded.predict(photos, target, strength), result.model.predict(photos, target, strength))
    torch.testing.assert_close(loaded.for_target("happy").predict(photos), loaded.predict(photos, "happy"))
    config = json.loads((result.out_dir / "config.json").read_text())
    assert config["family"] == "fader" and config["fader"]["condition"] == "adversarial"
    held = result.summary["latent_classifier"]
    assert held["splits"][0].endswith(":val") and 0 <= held["accuracy"] <= 1


def test_an_interrupted_run_resumes_with_the_ramp_where_it_stopped(prepared, tmp_path, interrupt_at):
    """Two optimizer steps per batch (discriminator, then encoder-decoder): killed after 3 batches, the
    same call resumes from there to the planned end, lambda at its final weight throughout the second epoch
    (the ramp counts from the resumed step, not from 0)."""
    out = tmp_path / "fader"
    run = options(epochs=2, min_epoch_items=0, checkpoint_every=1, batch_size=8)
    config = CONFIG.with_changes(ramp_steps=2)
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        train_fader(prepared, out, "train", config, None, run, callbacks=(interrupt_at(6),))
    assert (out / "checkpoints" / "last.ckpt").is_file() and not (out / SUMMARY_FILE).exists()
    result = train_fader(prepared, out, "train", config, None, run)
    assert result.summary["resumed_from_step"] == 6 and result.summary["global_step"] == 2 * 2 * (14 * 2 // 8)
    assert result.summary["final"]["train/weight_adversarial"] == pytest.approx(config.adversarial)
    with pytest.raises(BadInputError, match="already holds a trained model"):
        train_fader(prepared, out, "train", config, None, run)


def test_conditions_layers_and_one_line_errors():
    """The three conditions weight what the paper lists; the paper preset decodes 128 px grey through
    F8192 (32 x 16 x 16); bad requests are one-line ValueErrors."""
    assert set(fader_weights(CONFIG.with_changes(condition="l2"))) == {"latent_bce", "recon", "reader"}
    assert set(fader_weights(CONFIG.with_changes(condition="multiclass"))) == {"latent_bce", "recon", "multiclass"}
    assert fader_weights(CONFIG)["adversarial"] == 0.0  # the ramp raises it
    paper = FaderConfig.from_preset("paper", final_dense=False)
    assert (paper.size, paper.channels, paper.pool_stride, paper.latent) == (128, 1, 1, 100)
    net = FaderNet(paper.with_changes(pool_stride=2, classes=("neutral", "happy", "sad")))
    assert net.decoder.dense[0].out_features == 8192
    assert net.decode(torch.zeros(2, 100), torch.zeros(2, 2)).shape == (2, 1, 128, 128)
    model = FaderModel(CONFIG)
    photo = torch.rand(1, 1, 3, 32, 32)
    with pytest.raises(ValueError, match="cannot produce 'angry'"):
        model.predict(photo, "angry")
    with pytest.raises(ValueError, match="from 0 to 1.5, not 2"):
        model.predict(photo, "happy", 2.0)
    with pytest.raises(ValueError, match="needs neutral faces"):
        FaderConfig(classes=("happy", "sad"))
    with pytest.raises(ValueError, match="condition must be one of"):
        FaderConfig(condition="siamese")


# ------------------------------------------------------------------ on warp (ours)


def test_on_warp_adds_the_decoders_change_to_the_geometric_face_inside_its_mask(prepared, tmp_path):
    """The cpu preset's default: a geometric model fitted on the same training crops; outside the face mask of
    the predicted landmarks the output is the geometric model's, inside the decoder changes its brightness; strength 0 is
    the geometric model's strength 0; the folder keeps the geometric model and loads without code; bad warp
    models are one line."""
    config = CONFIG.with_changes(on_warp=FaderConfig.from_preset("cpu").on_warp)
    result = train_fader(prepared, tmp_path / "warp", "train", config, None, options(epochs=1, min_epoch_items=0))
    model, geometric = result.model, result.model.geometric
    assert model.name == "fader-adversarial-on-warp" and geometric is not None and model.size == geometric.size
    assert geometric.training["data"] == [str(prepared)] and geometric.training["split"] == ["train"]
    photos = resize_to(expression_crops(prepared, "val", CLASSES)["happy"].unsqueeze(1), geometric.size)
    explained = geometric.explain(photos, "neutral", 1.0)
    output = model.predict(photos, "neutral", 1.0)
    outside = (face_region_mask(explained["goal"], geometric.size) == 0).expand_as(output)
    assert outside.any() and (~outside).any()
    torch.testing.assert_close(output[outside], explained["output"][outside], atol=1e-6, rtol=0)
    change = output - explained["output"]
    assert float(change.abs().amax()) > 1e-3
    unclipped = ((output > 0.01) & (output < 0.99)).all(1)  # a change of brightness: the same in every channel
    torch.testing.assert_close(change[:, 0][unclipped], change[:, 2][unclipped], atol=1e-5, rtol=0)
    torch.testing.assert_close(model.predict(photos, "happy", 0.0), geometric.predict(photos, "happy", 0.0),
                               atol=1e-5, rtol=0)
    # the traversal is the slider itself: strengths 0 to 1, and 0 to -1 the opposite way
    traversal = model.traverse(photos[:, 0], "happy", 3)
    assert traversal.faces.shape == traversal.opposite.shape == (len(photos), 3, 3, geometric.size, geometric.size)
    torch.testing.assert_close(traversal.faces[:, -1], model.predict(photos, "happy", 1.0), atol=1e-5, rtol=0)
    torch.testing.assert_close(traversal.faces[:, 0], traversal.opposite[:, 0], atol=1e-6, rtol=0)
    torch.testing.assert_close(traversal.values[:, -1], torch.ones(len(photos)))
    assert (traversal.opposite_values[:, -1] < traversal.values[:, 0]).all()
    # --paste moves the photo's own pixels: the warp and the correction after it give the output
    assert isinstance(model, WarpingModel) and not isinstance(FaderModel(CONFIG.for_data(3, CLASSES)), WarpingModel)
    smiles, grids, correction = model.warp_fields(photos, "happy", 1.0)
    torch.testing.assert_close(smiles, model.predict(photos, "happy", 1.0), atol=1e-5, rtol=0)
    assert grids.shape == (len(photos), 1, geometric.size, geometric.size, 2)
    torch.testing.assert_close(apply_grid(photos[:, 0], grids[:, 0])[0] + correction, smiles, atol=1e-4, rtol=0)
    folder = tmp_path / "copied"
    folder.mkdir()
    for name in ("config.json", "weights.safetensors"):
        (folder / name).write_bytes((result.out_dir / name).read_bytes())
    loaded = load_model(folder)
    assert isinstance(loaded, FaderModel) and loaded.geometric is not None
    torch.testing.assert_close(loaded.predict(photos, "happy", 1.0), model.predict(photos, "happy", 1.0),
                               atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="needs the geometric model"):
        FaderModel(config.for_data(3, CLASSES))
    with pytest.raises(ValueError, match="cannot produce sad"):
        FaderModel(config.for_data(3, ("neutral", "happy", "sad")), geometric=geometric)
    with pytest.raises(BadInputError, match="must be a geometric model, not fader"):
        train_fader(prepared, tmp_path / "bad", "train", config.with_changes(warp_model=str(folder)), None,
                    options(epochs=1, min_epoch_items=0))
    assert not FaderConfig.from_preset("paper").on_warp and not FaderConfig.from_dict({}).on_warp
