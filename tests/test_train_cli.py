"""``facexpr train METHOD``: commands generated from each registered method's config dataclasses."""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from facexpr.cli import app
from facexpr.cli.from_config import attribute_help, build_config, config_options
from facexpr.models.neutralizer import NeutralizerConfig
from facexpr.models.vae import VAEConfig
from facexpr.training import METHODS, TrainOptions

runner = CliRunner()


@pytest.fixture(scope="module")
def two_folders(tmp_path_factory):
    """Two small prepared folders of different synthetic people (4 and 3 subjects, 32 px crops)."""
    from facexpr.data.prepare import PrepareOptions, prepare_dataset
    from facexpr.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("two")
    for name, subjects, seed in (("a", 4, 11), ("b", 3, 12)):
        generate_dataset(root / f"raw_{name}", n_subjects=subjects, expressions=("neutral", "happy"), size=96, seed=seed)
        prepare_dataset(root / f"raw_{name}", root / name, PrepareOptions(size=32, split_ratios=(1.0, 0.0, 0.0)))
    return root / "a", root / "b"


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_gets_a_command_with_one_option_per_config_field(name):
    """No two config fields collide, and each settable field is an option of ``train METHOD --help``."""
    import typer

    options = config_options(METHODS[name].configs)
    result = runner.invoke(app, ["train", name, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output, result.output
    group = typer.main.get_command(app).get_command(None, "train")
    command = group.get_command(None, name)
    flags = {flag for parameter in command.params for flag in (*parameter.opts, *parameter.secondary_opts)}
    for option in options:
        assert set(option.flags[0].split("/")) <= flags, option.flags[0]
    assert {"--data", "--out", "--split"} <= flags


def test_attribute_help_reads_google_style_sections_including_shared_lines():
    helps = attribute_help(TrainOptions)
    assert helps["epochs"] == "maximum number of epochs."
    assert helps["devices"] == helps["precision"] and "lightning.Trainer" in helps["devices"]
    assert "subject the model" in attribute_help(NeutralizerConfig)["max_inputs"]


def test_options_not_given_are_left_to_the_config_and_its_preset():
    """Nothing given: the dataclass defaults; ``--preset paper``: the preset's size and width unless given."""
    assert build_config(TrainOptions, {}) == TrainOptions()
    paper = build_config(VAEConfig, {"preset": "paper"})
    assert (paper.size, paper.width) == (128, 1.0)
    assert build_config(VAEConfig, {"preset": "paper", "size": 64}).size == 64
    nested = build_config(NeutralizerConfig, {"size": 32, "mode": "scratch", "max_inputs": 3})
    assert (nested.vae.size, nested.mode, nested.max_inputs) == (32, "scratch", 3)
    assert not any(o.name in ("channels", "verbose") for o in config_options({"a": NeutralizerConfig, "b": TrainOptions}))


def test_train_vae_mixes_repeated_data_folders(two_folders, tmp_path):
    """``--data A --data B`` trains on the neutral crops of both (4 + 3 people) and records both folders."""
    first, second = two_folders
    out = tmp_path / "vae"
    result = runner.invoke(app, ["train", "vae", "--data", str(first), "--data", str(second), "--out", str(out),
                                 "--size", "32", "--width", "0.0625", "--epochs", "1", "--epoch-items", "0",
                                 "--beta", "fixed", "--no-progress", "--split", "train"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"] == [str(first), str(second)]
    assert summary["train_items"] == 7 and summary["supervision"] == "neutral"
    assert summary["vae"]["size"] == 32 and summary["beta_schedule"]["schedule"] == "fixed"
    assert (out / "weights.safetensors").is_file()


def test_train_neutralizer_takes_its_config_fields_as_options(two_folders, tmp_path):
    first, _ = two_folders
    out = tmp_path / "neutralizer"
    result = runner.invoke(app, ["train", "neutralizer", "--data", str(first), "--out", str(out), "--mode", "scratch",
                                 "--shots", "1", "--size", "32", "--width", "0.0625", "--epochs", "1",
                                 "--epoch-items", "0", "--no-blend", "--lambda", "0.5", "--no-progress"])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "summary.json").read_text())["neutralizer"]
    assert (config["mode"], config["max_inputs"], config["blend"], config["reg_lambda"]) == ("scratch", 1, False, 0.5)


@pytest.mark.parametrize("arguments, fragment", [
    (["--size", "33"], "size must be a power of two"),
    (["--beta", "sometimes"], "unknown beta schedule"),
    (["--epochs", "0"], "epochs"),
])
def test_values_a_config_rejects_are_one_line_errors(two_folders, tmp_path, arguments, fragment):
    result = runner.invoke(app, ["train", "vae", "--data", str(two_folders[0]), "--out", str(tmp_path / "x"),
                                 *arguments])
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_a_pretrained_mode_without_a_stage1_model_is_refused_before_training(two_folders, tmp_path):
    result = runner.invoke(app, ["train", "neutralizer", "--data", str(two_folders[0]), "--out", str(tmp_path / "n")])
    assert result.exit_code == 2 and "--pretrained" in result.output


def test_config_fields_carry_their_cli_metadata():
    """Renamed flags stay what the README documents."""
    flags = {f.name: f.metadata.get("flag") for f in dataclasses.fields(NeutralizerConfig)}
    assert flags["reg_lambda"] == "--lambda" and flags["max_inputs"] == "--shots"
