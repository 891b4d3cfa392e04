"""Table nfgan (issue 11): rows train into their own folders (on-warp after the geometric model it refines), are
measured on held-out people beside the input and mean-neutral baselines, written as Markdown + JSON + a plot of
the identity distances, and read back on a rerun."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from facexpr.cli import app
from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.synthetic import generate_dataset
from facexpr.evaluation.scoring import Judges
from facexpr.experiments import NFGANTableSettings, run_nfgan_table
from facexpr.io import BadInputError


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Eight synthetic people (neutral, happy), 64 px: 4 train, 2 val, 2 test."""
    root = tmp_path_factory.mktemp("nfgan_table")
    generate_dataset(root / "raw", n_subjects=8, expressions=("neutral", "happy"), size=160, seed=8)
    prepare_dataset(root / "raw", root / "prepared", PrepareOptions(size=64, split_ratios=(0.5, 0.25, 0.25)))
    return root / "prepared"


@pytest.fixture(scope="module")
def table(prepared, tmp_path_factory):
    """Rows no-identity and on-warp (which brings geometric along), one tiny epoch at 32 px: the settings, the
    report lines and the tables' paths."""
    settings = NFGANTableSettings(data=(prepared,), out=tmp_path_factory.mktemp("out") / "t",
                                  rows=("on-warp", "no-identity"), epochs=1, batch_size=8, epoch_items=16, size=32,
                                  progress=False)
    lines: list[str] = []
    judges = Judges.default()
    markdown, raw = run_nfgan_table(settings, lines.append, judges)
    return settings, lines, judges, markdown, raw


def test_rows_are_trained_measured_written_and_read_back(table):
    settings, lines, judges, markdown, raw = table
    text = markdown.read_text()
    names = [line.split(" |")[0] for line in text.splitlines() if line.startswith("| ")]
    # the reference rows, then the table's order with geometric brought along before on-warp
    assert names[1:] == ["| input", "| mean-neutral", "| no-identity", "| geometric", "| on-warp"]
    document = json.loads(raw.read_text())
    assert document["settings"]["size"] == 32 and document["settings"]["eval_split"] == "test"
    label = settings.data[0].name
    for name in ("no-identity", "geometric", "on-warp"):
        row = document["rows"][name]
        measures = row["folders"][label]
        assert row["seconds"] > 0, name
        assert 0 <= measures["id_rank1"] <= 1 and 0 <= measures["id_same_rate"] <= 1, name
        assert math.isfinite(measures["psnr"]) and measures["id_distances"], name
        assert measures["id_median"] <= measures["id_p90"] <= measures["id_max"], name
        assert set(measures["baselines"]) == {"input", "mean-neutral"}
    assert (settings.out / "identity_distances.png").stat().st_size > 0
    assert [line.split(":")[0] for line in lines if "training" in line] == ["no-identity", "geometric", "on-warp"]
    lines.clear()
    run_nfgan_table(settings, lines.append, judges)
    assert lines and not any("training" in line or "measuring" in line for line in lines)


def test_unknown_rows_and_missing_splits_are_one_line_errors(prepared, tmp_path):
    with pytest.raises(BadInputError, match="unknown row nope") as unknown:
        run_nfgan_table(NFGANTableSettings(data=(prepared,), out=tmp_path / "a", rows=("nope",)))
    with pytest.raises(BadInputError, match="no split 'holdout'") as missing:
        run_nfgan_table(NFGANTableSettings(data=(prepared,), out=tmp_path / "b", eval_split="holdout"))
    with pytest.raises(BadInputError, match="needs one or more prepared folders"):
        run_nfgan_table(NFGANTableSettings(data=(), out=tmp_path / "c"))
    assert "\n" not in str(unknown.value) and "\n" not in str(missing.value)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_rerun_with_other_settings_names_the_row_folder(table):
    settings, _, judges, _, _ = table
    with pytest.raises(BadInputError, match="other settings") as error:
        run_nfgan_table(replace(settings, epochs=2), judges=judges)
    assert str(settings.out / "no-identity") in str(error.value) and "epochs: 1 there, 2 now" in str(error.value)
    # the command line: the same settings read the table back, other epochs are refused
    args = ["experiments", "--table", "nfgan", "--data", str(settings.data[0]), "--out", str(settings.out),
            "--rows", "on-warp,no-identity", "--batch-size", "8", "--epoch-items", "16", "--size", "32", "--no-progress"]
    again = CliRunner().invoke(app, [*args, "--epochs", "1"])
    assert again.exit_code == 0 and "| on-warp |" in again.output, again.output
    assert "no-identity: training" not in again.output and "measuring" not in again.output
    other = CliRunner().invoke(app, [*args, "--epochs", "2"])
    assert other.exit_code == 2 and "epochs: 1 there, 2 now" in other.output, other.output
