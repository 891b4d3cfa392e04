"""The command line: help everywhere, one-line errors, prepare and demo end to end."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from facexpr.cli import app
from facexpr.data.records import read_manifest

runner = CliRunner()


@pytest.mark.parametrize(
    "command", [[], ["prepare"], ["synthetic"], ["demo"], ["openface"], ["evaluate"], ["compare"], ["benchmark"]]
)
def test_every_command_has_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_missing_source_is_one_line_error_without_traceback(tmp_path):
    result = runner.invoke(app, ["prepare", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "nothing" in result.output


def test_bad_split_ratios_are_reported(tmp_path):
    result = runner.invoke(app, ["prepare", str(tmp_path), "--out", str(tmp_path / "o"), "--split-ratios", "a,b"])
    assert result.exit_code == 2 and "--split-ratios" in result.output


def test_synthetic_then_prepare(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "prepared"
    assert runner.invoke(app, ["synthetic", str(raw), "-n", "3", "--expressions", "neutral,happy", "--size", "128"]).exit_code == 0
    result = runner.invoke(app, ["prepare", str(raw), "--out", str(out), "--size", "64", "--split", "test"])
    assert result.exit_code == 0, result.output
    records = read_manifest(out / "manifest.csv")
    assert len(records) == 6 and {r.split for r in records} == {"test"}


def test_demo_writes_a_contact_sheet(tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--subjects", "8", "--size", "64", "--no-train"])
    assert result.exit_code == 0, result.output
    from facexpr.io import load_image

    sheet = load_image(tmp_path / "demo" / "contact_sheet.png")
    assert sheet.shape[0] > 8 * 64 and sheet.shape[1] > 7 * 64
    assert sheet.std() > 10  # faces, not a blank page


def test_openface_command_writes_the_kept_frames(tmp_path):
    from pathlib import Path

    from facexpr.faces.openface import neutral_frontal_rows, read_openface_csv

    fixture = Path(__file__).parent / "fixtures" / "openface" / "feature_extraction.csv"
    expected = [row["frame"] for row in neutral_frontal_rows(fixture)]
    assert 0 < len(expected) < len(read_openface_csv(fixture))
    result = runner.invoke(app, ["openface", str(fixture), "--out", str(tmp_path / "kept.csv")])
    assert result.exit_code == 0, result.output
    assert [row["frame"] for row in read_openface_csv(tmp_path / "kept.csv")] == expected
    # --max-pose is in degrees (OpenFace writes radians): at 10 the frame turned 17 degrees (pose_Rz -0.3) goes
    stricter = runner.invoke(app, ["openface", str(fixture), "--max-pose", "10", "--out", str(tmp_path / "strict.csv")])
    assert stricter.exit_code == 0, stricter.output
    assert f"kept 2 of {len(read_openface_csv(fixture))} frame(s)" in stricter.output
    assert [row["frame"] for row in read_openface_csv(tmp_path / "strict.csv")] == [1.0, 7.0]  # not 5


def test_evaluate_and_compare_commands(tmp_path):
    raw, data = tmp_path / "raw", tmp_path / "prepared"
    assert runner.invoke(app, ["synthetic", str(raw), "-n", "4", "--expressions", "neutral,happy", "--size", "128"]).exit_code == 0
    assert runner.invoke(app, ["prepare", str(raw), "--out", str(data), "--size", "64", "--split", "test"]).exit_code == 0
    result = runner.invoke(app, ["evaluate", "--model", "identity", "--data", str(data), "--out", str(tmp_path / "ev")])
    assert result.exit_code == 0, result.output
    assert "mean-neutral" in result.output and (tmp_path / "ev" / "report.md").is_file()
    result = runner.invoke(app, ["compare", "--data", str(data), "--models", "identity", "mean-neutral", "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cmp" / "pairs" / "output-1").is_dir()
    missing = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "nope"), "--data", str(data), "--out", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "not a facexpr model directory" in missing.output
    wrong_split = runner.invoke(app, ["evaluate", "--model", "identity", "--data", str(data), "--split", "val", "--out", str(tmp_path / "y")])
    assert wrong_split.exit_code == 2 and "no split 'val'" in wrong_split.output


def test_benchmark_rejects_bad_sizes(tmp_path):
    result = runner.invoke(app, ["benchmark", "--sizes", "64,big", "--out", str(tmp_path / "b.json")])
    assert result.exit_code == 2 and "--sizes" in result.output and not (tmp_path / "b.json").exists()


def test_demo_trains_both_stages_and_reports_the_held_out_people(tmp_path):
    """A one-epoch demo: stage 1 and 2 models, an evaluation beside the baselines and the report; a rerun reuses them."""
    import json

    out = tmp_path / "demo"
    arguments = ["demo", "--out", str(out), "--subjects", "8", "--size", "64", "--epochs", "1"]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "evaluation" / "metrics.json").read_text())
    assert metrics["model"].startswith("neutralizer-resnet-frozen-reg") and "identity" in metrics["baselines"]
    page = (out / "report.html").read_text()
    assert "neutralized.png" in page and "identity" in page and "stage 2 (neutralizer)" in page
    assert "geometry/comparison.png" in page and "geometric (any-&gt;neutral)" in page
    comparison = json.loads((out / "geometry" / "comparison" / "metrics.json").read_text())
    assert [m["model"] for m in comparison["models"]][1:] == ["geometric (any->neutral)", "identity", "mean-neutral"]
    from facexpr.io import load_image

    assert load_image(out / "neutralized.png").shape[0] > metrics["n"] * 96
    weights = (out / "models" / "neutralizer" / "weights.safetensors").stat().st_mtime_ns
    assert runner.invoke(app, arguments).exit_code == 0
    assert (out / "models" / "neutralizer" / "weights.safetensors").stat().st_mtime_ns == weights


def test_training_keeps_lightnings_banners_out_of_the_terminal_unless_verbose(tmp_path):
    """No hardware banner, tip, model summary or deprecation notice by default; --verbose shows them."""
    from facexpr.data.prepare import PrepareOptions, prepare_dataset
    from facexpr.data.synthetic import generate_dataset

    generate_dataset(tmp_path / "raw", n_subjects=6, expressions=("neutral", "happy"), size=96, seed=4)
    prepare_dataset(tmp_path / "raw", tmp_path / "prepared", PrepareOptions(size=64))
    arguments = ["train", "vae", "--data", str(tmp_path / "prepared"), "--size", "32", "--epochs", "1",
                 "--epoch-items", "0"]
    quiet = runner.invoke(app, [*arguments, "--out", str(tmp_path / "quiet")])
    assert quiet.exit_code == 0, quiet.output
    for chatter in ("GPU available", "Tip:", "Trainable params", "deprecated"):
        assert chatter not in quiet.output, chatter
    import logging

    # Lightning logs its banner through its own stream handler (the process's stderr): its level decides
    assert not logging.getLogger("lightning.pytorch").isEnabledFor(logging.INFO)
    loud = runner.invoke(app, ["--verbose", *arguments, "--out", str(tmp_path / "loud")])
    assert loud.exit_code == 0 and "Trainable params" in loud.output
    assert logging.getLogger("lightning.pytorch").isEnabledFor(logging.INFO)
