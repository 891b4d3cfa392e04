"""The emotion-VAE paper's semi-supervised beta-VAE (issue 13): its latent puts neutral faces nearer the origin
than the expressions and classifies held-out people, `facexpr classify --model DIR` reads it, moving along a
class axis synthesizes that expression, training records each axis's range and the traversal spans it, the
folder loads without code, resume after a kill, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import expression_crops

from facexpr.data.pairing import PreparedDataset
from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.synthetic import generate_dataset
from facexpr.io import BadInputError
from facexpr.models import Classifier, ConditionalModel, SamplingModel, load_model
from facexpr.models.classifiers import load_classifier
from facexpr.models.emotion import SSVAEConfig, SSVAEModel, SSVAENet
from facexpr.models.emotion.ssvae import bce_per_crop
from facexpr.training.options import TrainOptions
from facexpr.training.ssvae import train_ssvae
from facexpr.training.trainer import SUMMARY_FILE

CLASSES = ("neutral", "happy", "surprise")
CONFIG = SSVAEConfig.from_preset("cpu", size=32)


def options(**changes) -> TrainOptions:
    """Short, quiet, deterministic runs."""
    fields = dict(epochs=20, batch_size=16, lr=3e-3, progress=False, logs=False, patience=50, departure=0.0,
                  augment=False, min_epoch_items=256)
    return TrainOptions(**{**fields, **changes})


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """Twenty synthetic people with neutral, happy and surprise faces, 32 px; split by person 70/30."""
    root = tmp_path_factory.mktemp("ssvae")
    generate_dataset(root / "raw", n_subjects=20, expressions=CLASSES, size=96, seed=6)
    prepare_dataset(root / "raw", root / "prep", PrepareOptions(size=32, split_ratios=(0.7, 0.3, 0.0)))
    return root / "prep"


@pytest.fixture(scope="module")
def trained(prepared, tmp_path_factory):
    """A few epochs of the cpu preset (alpha, beta, gamma = 1, 2, 10) at 32 px."""
    return train_ssvae(prepared, tmp_path_factory.mktemp("run") / "ssvae", "train", CONFIG, None, options())



def test_the_latent_puts_neutral_nearest_the_origin_and_classifies_held_out_people(trained, prepared):
    """Held-out people's neutral faces have latent means closer to the origin than their happy and surprised
    ones, each expression lies furthest along its own axis, and the latent classifies them above chance."""
    model = trained.model
    true = expression_crops(prepared, "val", CLASSES)
    means = {e: model.encode(true[e]) for e in CLASSES}
    norms = {e: float(means[e].norm(dim=1).mean()) for e in CLASSES}
    assert norms["neutral"] < 0.9 * min(norms["happy"], norms["surprise"]), norms  # 0.51 vs 1.54, 1.75 when written
    for axis, expression in enumerate(("happy", "surprise")):
        assert float(means[expression][:, axis].mean()) > float(means["neutral"][:, axis].mean()) + 0.5, means
    held = trained.summary["held_out"]
    assert held["splits"][0].endswith(":val") and held["accuracy"] > 1 / 3 + 0.2, held
    assert "train/ce" in trained.summary["final"] and "train/kl" in trained.summary["final"]


def test_moving_along_a_class_axis_synthesizes_what_the_latent_reads_as_that_expression(trained, prepared):
    """From held-out neutral faces, the happy target gives faces that the encoder places nearer the happy
    centre (more probably happy than the inputs: 0.155 vs 0.089 when written, a weak move after 20 short
    epochs), and strength 0 is the reconstruction."""
    model = trained.model
    true = expression_crops(prepared, "val", CLASSES)
    neutral = true["neutral"].unsqueeze(1)
    start, happy = model.predict(neutral, "happy", 0.0), model.predict(neutral, "happy")
    index = CLASSES.index("happy")
    moved, before = float(model.classify(happy)[:, index].mean()), float(model.classify(true["neutral"])[:, index].mean())
    assert moved > 1.3 * before, (moved, before)
    torch.testing.assert_close(start, model.decode(model.encode(true["neutral"])).clamp(0, 1))


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "not learnt in the test's budget: after 8 epochs on 14 people at 32 px the change from held-out neutral faces "
    "to the happy target pointed away from their true smile (cosine -0.04); with the test's 20 it stays under 0.1"))
def test_moving_along_the_happy_axis_changes_pixels_the_way_a_smile_does(trained, prepared):
    model = trained.model
    true = expression_crops(prepared, "val", CLASSES)
    neutral = true["neutral"].unsqueeze(1)
    change = (model.predict(neutral, "happy") - model.predict(neutral, "happy", 0.0)).flatten(1)
    towards = F.cosine_similarity(change, (true["happy"] - true["neutral"]).flatten(1)).mean()
    assert float(towards) > 0.1, float(towards)


def test_training_records_each_axis_range_and_the_traversal_spans_it(trained, prepared):
    """config.json holds, per class axis, the smallest and largest latent mean over the training crops; a
    strip dials one axis between them with the other coordinates kept, its ends differing, the opposite strip
    from the face's own coordinate (the reconstruction) to minus the maximum."""
    dataset = PreparedDataset(prepared)
    means = trained.model.encode(torch.stack([dataset.load(r) for r in dataset.select("train")]))
    recorded = json.loads((trained.out_dir / "config.json").read_text())["axis_ranges"]
    assert list(recorded) == ["happy", "surprise"]
    for axis, expression in enumerate(recorded):
        expected = [float(means[:, axis].min()), float(means[:, axis].max())]
        assert recorded[expression] == pytest.approx(expected, abs=1e-5)
    model = load_model(trained.out_dir)
    low, high = model.traversal_range("happy")
    neutral = expression_crops(prepared, "val", CLASSES)["neutral"]
    traversal = model.traverse(neutral, "happy", steps=5)
    assert traversal.faces.shape == (len(neutral), 5, 3, 32, 32)
    torch.testing.assert_close(traversal.values, torch.linspace(low, high, 5).expand(len(neutral), 5))
    mu = model.encode(neutral)
    happiest = torch.cat([torch.full_like(mu[:, :1], high), mu[:, 1:]], 1)
    torch.testing.assert_close(traversal.faces[:, -1], model.decode(happiest).clamp(0, 1))
    changed = float((traversal.faces[:, -1] - traversal.faces[:, 0]).abs().mean())
    assert changed > 0.005, changed  # 0.014 when written, as much as the real smiles change (0.014)
    torch.testing.assert_close(traversal.opposite[:, 0], model.decode(mu).clamp(0, 1))
    torch.testing.assert_close(traversal.opposite_values[:, -1], torch.full((len(neutral),), -high))


def test_the_folder_loads_without_code_as_a_model_and_a_classifier(trained, prepared):
    loaded = load_model(trained.out_dir)
    assert isinstance(loaded, SSVAEModel) and isinstance(loaded, ConditionalModel)
    assert isinstance(loaded, SamplingModel) and isinstance(loaded, Classifier) and loaded.target_expression == "neutral"
    photos = expression_crops(prepared, "val", CLASSES)["surprise"].unsqueeze(1)
    torch.testing.assert_close(loaded.predict(photos, "happy", 1.5), trained.model.predict(photos, "happy", 1.5))
    torch.testing.assert_close(loaded.for_target("happy").predict(photos), loaded.predict(photos, "happy"))
    classifier = load_classifier(trained.out_dir)
    torch.testing.assert_close(classifier.classify(photos[:, 0]), trained.model.classify(photos[:, 0]))
    assert loaded.sample(3, torch.Generator().manual_seed(0)).shape == (3, 3, 32, 32)
    config = json.loads((trained.out_dir / "config.json").read_text())
    assert config["family"] == "ssvae" and config["ssvae"]["classes"] == list(CLASSES)


def test_an_interrupted_run_resumes_where_it_stopped(prepared, tmp_path, interrupt_at):
    out = tmp_path / "ssvae"
    run = options(epochs=2, min_epoch_items=0, checkpoint_every=1, batch_size=8)
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        train_ssvae(prepared, out, "train", CONFIG, None, run, callbacks=(interrupt_at(3),))
    assert (out / "checkpoints" / "last.ckpt").is_file() and not (out / SUMMARY_FILE).exists()
    result = train_ssvae(prepared, out, "train", CONFIG, None, run)
    assert result.summary["resumed_from_step"] == 3 and result.summary["global_step"] == 2 * (14 * 3 // 8)
    with pytest.raises(BadInputError, match="already holds a trained model"):
        train_ssvae(prepared, out, "train", CONFIG, None, run)


def test_class_centres_and_one_line_errors():
    """Neutral's centre is the origin and each expression's sits on its own axis; the logits are the nearest
    centre's; bad configs and requests are one-line ValueErrors."""
    net = SSVAENet(CONFIG.with_changes(classes=CLASSES, extra=2))
    assert net.centres.tolist() == [[0, 0, 0, 0], [2, 0, 0, 0], [0, 2, 0, 0]]
    points = torch.tensor([[0.1, 0.2, 0.5, -0.3], [2.1, 0.3, 0, 0], [0.2, 1.9, 1, 1]])
    assert net.class_logits(points).argmax(1).tolist() == [0, 1, 2]
    assert SSVAEConfig.from_preset("cpu", classes=("neutral", "happy", "sad", "surprise", "angry", "disgust",
                                                   "fear", "contempt")).latent == 7  # the paper's 7-D latent
    for bad in ({"classes": ("happy", "sad")}, {"axis": 0.0}, {"reduction": "max"}, {"beta": -1.0}):
        with pytest.raises(ValueError):
            SSVAEConfig(**bad)
    # augmented crops a rounding error outside [0, 1] (as kornia's warps give) are still scored
    target = torch.full((1, 3, 4, 4), 0.5)
    target[0, 0, 0, 0], target[0, 0, 0, 1] = 1 + 1e-6, -1e-6
    assert torch.isfinite(bce_per_crop(torch.full((1, 3, 4, 4), 0.5), target, "sum")).all()
    model = SSVAEModel(CONFIG.with_changes(classes=CLASSES))
    with pytest.raises(ValueError, match="cannot produce 'angry'"):
        model.predict(torch.rand(1, 1, 3, 32, 32), "angry")
    with pytest.raises(ValueError, match="from 0 to 1.5"):
        model.predict(torch.rand(1, 1, 3, 32, 32), "happy", -0.5)
