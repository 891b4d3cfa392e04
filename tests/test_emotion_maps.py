"""The emotion-VAE paper's two maps (issue 13): `facexpr tsne` of the expression CNN's F100 layer, and the SS-VAE's
per-emotion latent distribution (the paper's Fig. 7/10), written at the end of training and by `facexpr tsne
--axes` on any data."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from facexpr.cli import app
from facexpr.data.pairing import PreparedDataset
from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.synthetic import generate_dataset
from facexpr.io import load_image
from facexpr.models import load_model
from facexpr.models.emotion import (
    ExpressionCNNConfig,
    ExpressionCNNModel,
    SSVAEConfig,
    SSVAEModel,
)
from facexpr.models.vae import latent
from facexpr.training.emotion_data import EmotionDataModule
from facexpr.training.options import TrainOptions
from facexpr.training.ssvae import DISTRIBUTION_PLOT, distribution_crops, train_ssvae
from facexpr.viz import axis_distribution_plot, medians_by_label

runner = CliRunner()
CLASSES = ("neutral", "happy", "surprise")
SIZE = 32


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """Twelve synthetic people with neutral, happy and surprise faces, 32 px; split by person into train and val."""
    root = tmp_path_factory.mktemp("maps")
    generate_dataset(root / "raw", n_subjects=12, expressions=CLASSES, size=96, seed=3)
    prepare_dataset(root / "raw", root / "prep", PrepareOptions(size=SIZE, split_ratios=(0.7, 0.3, 0.0)))
    return root / "prep"


@pytest.fixture(scope="module")
def ssvae(prepared, tmp_path_factory):
    """One short epoch of the SS-VAE's cpu preset at 32 px (what is drawn, not how well it learnt)."""
    options = TrainOptions(epochs=1, batch_size=16, lr=3e-3, progress=False, logs=False, patience=50, departure=0.0,
                           augment=False, min_epoch_items=0)
    return train_ssvae(prepared, tmp_path_factory.mktemp("run") / "ssvae", "train",
                       SSVAEConfig.from_preset("cpu", size=SIZE), None, options)


class LookupSSVAE(SSVAEModel):
    """An SS-VAE built so that each crop's class-axis values are its true expression's centre (looked up by
    the crop's pixels) plus a per-crop offset under a quarter of the axis: each expression along its own axis,
    neutral near the origin."""

    def __init__(self, crops: torch.Tensor, labels: list[str]):
        super().__init__(SSVAEConfig.from_preset("cpu", size=SIZE).for_data(3, CLASSES))
        self.crops, self.labels = crops.flatten(1), labels

    def latent_attributes(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        nearest = torch.cdist(crops.flatten(1), self.crops).argmin(1)
        centres = self.network.centres[[CLASSES.index(self.labels[i]) for i in nearest.tolist()]]
        values = centres[:, :2] + 0.4 * torch.sin(nearest.float()).unsqueeze(1)
        return values, values


@pytest.fixture(scope="module")
def cnn_dir(tmp_path_factory) -> Path:
    """An untrained expression CNN (fixed weights) saved as a model folder."""
    torch.manual_seed(0)
    model = ExpressionCNNModel(ExpressionCNNConfig.from_preset("cpu", size=SIZE).for_data(3, CLASSES))
    return model.save(tmp_path_factory.mktemp("cnn") / "cnn")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_the_cnn_map_embeds_the_f100_features_of_every_crop(cnn_dir, prepared, tmp_path, monkeypatch):
    """`facexpr tsne` on an expression-cnn folder embeds exactly the F100 activations of the split's crops, in
    manifest order, and writes one CSV row per crop."""
    embedded = []
    original = latent.tsne_embedding

    def recording(vectors, *args, **kwargs):
        embedded.append(vectors)
        return original(vectors, *args, **kwargs)

    monkeypatch.setattr(latent, "tsne_embedding", recording)
    out = tmp_path / "map.png"
    result = runner.invoke(app, ["tsne", "-m", str(cnn_dir), "-d", str(prepared), "--split", "val", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "F100 features" in result.output and load_image(out).shape[2] == 3
    dataset = PreparedDataset(prepared)
    records = dataset.select("val")
    rows = read_csv(tmp_path / "map.csv")
    assert [row["path"] for row in rows] == [r.path for r in records] and len(rows) == 3 * 4
    model = latent.load_any_model(cnn_dir)
    expected = model.features(torch.stack([dataset.load(r) for r in records]))
    assert expected.shape == (len(records), 100)
    np.testing.assert_allclose(embedded[0], expected.numpy(), rtol=1e-4, atol=1e-5)
    assert not np.allclose(embedded[0], model.classify(torch.stack([dataset.load(r) for r in records])).numpy()[:, :1])


def test_training_writes_the_latent_distribution_of_the_held_out_people(ssvae, prepared):
    """The plot is in the training folder; it is drawn on the people held out (val here), and on the training
    crops, said so, when a folder holds no one out."""
    plot = load_image(ssvae.out_dir / DISTRIBUTION_PLOT)
    assert plot.ndim == 3 and plot.shape[0] > 200 and plot.shape[1] > 400
    datamodule = EmotionDataModule(prepared, "train")
    parts, crops = distribution_crops(datamodule, CLASSES)
    assert crops == "held-out people: val of prep"
    assert [r.path for r in parts[0][1]] == [r.path for r in PreparedDataset(prepared).select("val")]
    parts, crops = distribution_crops(EmotionDataModule(prepared, "val"), CLASSES)
    assert crops == "training crops: val, no held-out people" and len(parts[0][1]) == 3 * 4


def test_axes_writes_each_crops_latent_means_on_the_class_axes(ssvae, prepared, tmp_path):
    """`facexpr tsne --axes` on an SS-VAE folder: the plot, and one CSV row per crop of the split, in manifest
    order, holding its latent means on the class axes (happy, surprise)."""
    out = tmp_path / "axes.png"
    result = runner.invoke(app, ["tsne", "-m", str(ssvae.out_dir), "-d", str(prepared), "--split", "train",
                                 "--axes", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert load_image(out).ndim == 3 and "2 axes" in result.output
    rows = read_csv(tmp_path / "axes.csv")
    dataset = PreparedDataset(prepared)
    records = dataset.select("train")
    assert [row["path"] for row in rows] == [r.path for r in records]
    assert list(rows[0]) == ["path", "subject", "expression", "split", "happy", "surprise"]
    values = np.array([[float(row["happy"]), float(row["surprise"])] for row in rows])
    means = load_model(ssvae.out_dir).encode(torch.stack([dataset.load(r) for r in records]))
    np.testing.assert_allclose(values, means[:, :2].numpy(), rtol=1e-4, atol=1e-4)


def test_the_distribution_puts_each_expression_on_its_own_axis_for_a_model_built_so(prepared, tmp_path):
    """With a model whose axes hold each crop's true expression, every row of the distribution's data is its
    own crop's (its expression's centre), so each expression's median is the largest on its own axis and
    neutral's lies near the origin."""
    dataset = PreparedDataset(prepared)
    records = dataset.select("val") + dataset.select("train")
    model = LookupSSVAE(torch.stack([dataset.load(r) for r in records]), [r.expression for r in records])
    shuffled = records[1::2] + records[::2]
    values = latent.write_axis_distribution(latent.AxisFeatures(model), [(dataset, shuffled)], tmp_path / "d.png",
                                            tmp_path / "d.csv", "all crops")
    assert load_image(tmp_path / "d.png").ndim == 3
    rows = read_csv(tmp_path / "d.csv")
    assert [row["path"] for row in rows] == [r.path for r in shuffled]
    for row, value in zip(rows, values):
        centre = model.network.centres[CLASSES.index(row["expression"]), :2].numpy()
        assert np.abs(value - centre).max() <= 0.4 + 1e-6
        assert [float(row["happy"]), float(row["surprise"])] == pytest.approx(value.tolist(), abs=1e-5)
    medians = medians_by_label(values, [r.expression for r in shuffled], CLASSES)
    for axis, expression in enumerate(("happy", "surprise")):
        assert medians[CLASSES.index(expression), axis] == medians[:, axis].max() > 1.5, medians
    assert np.abs(medians[0]).max() < 0.5, medians


def test_medians_and_the_plot_on_hand_made_values():
    """Medians per label and axis (NaN for a label without crops); the plot draws any number of axes."""
    values = np.array([[0.0, 0.1], [2.0, 0.0], [3.0, -1.0], [0.5, 2.5]])
    labels = ["neutral", "happy", "happy", "sad"]
    medians = medians_by_label(values, labels, ("neutral", "happy", "sad", "angry"))
    np.testing.assert_allclose(medians[:3], [[0.0, 0.1], [2.5, -0.5], [0.5, 2.5]])
    assert np.isnan(medians[3]).all()
    image = axis_distribution_plot(values, labels, ("happy", "sad"), "title", ("neutral", "happy", "sad"))
    assert image.dtype == np.uint8 and image.shape[2] == 3


def test_models_without_axes_or_features_are_one_line_errors(cnn_dir, prepared, tmp_path):
    result = runner.invoke(app, ["tsne", "-m", str(cnn_dir), "-d", str(prepared), "--axes", "-o", str(tmp_path / "a.png")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert f"{cnn_dir}: this model has no expression axes in its latent (family expression-cnn)" in text
    assert "--axes takes fader, ssvae models" in text
