"""Table seed002 (issue 13): the three Fader conditions and ours on warp train into their own folders, are measured on held-out
people (traversal, neutralizing, reconstruction, the latent classifier), written as Markdown + JSON in table order,
read back on a rerun without training or measuring again, and bad tables or data are one-line errors."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from facexpr.cli import app
from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.synthetic import generate_dataset
from facexpr.evaluation.scoring import Judges
from facexpr.experiments import Seed002Settings, run_seed002
from facexpr.experiments.seed002 import COLUMNS, TRAVERSAL_STRENGTHS
from facexpr.io import BadInputError
from facexpr.training import SUMMARY_FILE

#: The rows the tiny table runs, in table order (asked for the other way round).
ROW_NAMES = ["l2", "on-warp"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Eight synthetic people (neutral, happy), 64 px: 4 train, 2 val, 2 test."""
    root = tmp_path_factory.mktemp("seed002")
    generate_dataset(root / "raw", n_subjects=8, expressions=("neutral", "happy"), size=160, seed=8)
    prepare_dataset(root / "raw", root / "prepared", PrepareOptions(size=64, split_ratios=(0.5, 0.25, 0.25)))
    return root / "prepared"


@pytest.fixture(scope="module")
def table(prepared, tmp_path_factory):
    """Rows on-warp and l2 (asked in that order), one tiny epoch at 32 px: the settings, the report lines, the
    judges and the tables' paths."""
    settings = Seed002Settings(data=(prepared,), out=tmp_path_factory.mktemp("out") / "t", rows=("on-warp", "l2"),
                               epochs=1, batch_size=8, epoch_items=16, size=32, progress=False)
    lines: list[str] = []
    judges = Judges.default()
    markdown, raw = run_seed002(settings, lines.append, judges)
    return settings, lines, judges, markdown, raw


def test_rows_come_out_in_order_with_every_column_finite(table):
    settings, lines, _, markdown, raw = table
    text = markdown.read_text()
    names = [line.split(" |")[0].removeprefix("| ") for line in text.splitlines() if line.startswith("| ")]
    assert names[1:] == ["input", "real photos", *ROW_NAMES]  # after the header line
    assert all(header in text for header, _, _ in COLUMNS)
    document = json.loads(raw.read_text())
    assert list(document["rows"]) == ROW_NAMES
    assert document["settings"]["eval_split"] == "test" and document["settings"]["size"] == 32
    for name, row in document["rows"].items():
        for _, key, _ in COLUMNS:
            assert math.isfinite(float(row[key])), (name, key, row[key])
        assert 0 <= row["top1_happy"] <= 1 and 0 <= row["id_rank1_traversal"] <= 1 and 0 <= row["p_neutral"] <= 1
        assert set(row["id_rank1_by_strength"]) == {f"{s:g}" for s in TRAVERSAL_STRENGTHS}
        assert row["expressions"] == ["happy"] and row["neutral_photos"] == 2 and row["neutralized_items"] == 2
        assert row["reconstructed_items"] == 4 and row["seconds"] > 0
        assert math.isfinite(row["input_p_neutral"]) and 0 <= row["reference"]["top1_happy"] <= 1
        config = json.loads((settings.out / name / "config.json").read_text())
        assert config["family"] == "fader" and config["fader"]["condition"] == name.replace("on-warp", "adversarial")
        assert config["fader"]["on_warp"] == (name == "on-warp") and ("geometric" in config) == (name == "on-warp")
    assert [line.split(":")[0] for line in lines if line.endswith("training")] == ROW_NAMES


def test_a_rerun_reads_the_rows_back_without_training_or_measuring(table):
    settings, _, judges, _, _ = table
    trained = {name: (settings.out / name / SUMMARY_FILE).stat().st_mtime_ns for name in ROW_NAMES}
    lines: list[str] = []
    run_seed002(settings, lines.append, judges)
    assert len(lines) == len(ROW_NAMES) and not any("training" in line or "measuring" in line for line in lines), lines
    assert trained == {name: (settings.out / name / SUMMARY_FILE).stat().st_mtime_ns for name in ROW_NAMES}
    # the command line with the same settings reads the table back too
    result = CliRunner().invoke(app, ["experiments", "--table", "seed002", "--data", str(settings.data[0]), "--out",
                                      str(settings.out), "--epochs", "1", "--batch-size", "8", "--epoch-items", "16",
                                      "--size", "32", "--rows", "on-warp,l2", "--no-progress"])
    assert result.exit_code == 0 and "| on-warp |" in result.output, result.output
    assert not any(f"{name}: training" in result.output or f"{name}: measuring" in result.output
                   for name in ROW_NAMES), result.output


def test_bad_settings_are_one_line_errors(prepared, tmp_path):
    with pytest.raises(BadInputError, match="unknown row nope; choose from l2, multiclass, adversarial, on-warp") as unknown:
        run_seed002(Seed002Settings(data=(prepared,), out=tmp_path / "a", rows=("nope",)))
    with pytest.raises(BadInputError, match="no split 'holdout'") as missing:
        run_seed002(Seed002Settings(data=(prepared,), out=tmp_path / "b", eval_split="holdout"))
    with pytest.raises(BadInputError, match="needs one or more prepared folders"):
        run_seed002(Seed002Settings(data=(), out=tmp_path / "c"))
    with pytest.raises(BadInputError, match="size must be a positive multiple of 8"):
        run_seed002(Seed002Settings(data=(prepared,), out=tmp_path / "d", size=30))
    assert "\n" not in str(unknown.value) and "\n" not in str(missing.value)
    assert not any((tmp_path / name).exists() for name in "abcd")


@pytest.mark.parametrize("table_name, data_name, message", [
    ("seed003", "prepared", "unknown table seed003; choose from 6.1, 6.2, 6.3, all, seed001, nfgan, seed002"),
    ("seed002", "missing", "missing"),
])
def test_a_bad_table_or_data_on_the_command_line_is_one_line(prepared, tmp_path, table_name, data_name, message):
    data = prepared if data_name == "prepared" else tmp_path / data_name
    result = CliRunner().invoke(app, ["experiments", "--table", table_name, "--data", str(data), "--data", str(data),
                                      "--out", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
