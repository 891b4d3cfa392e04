"""``facexpr experiments``: the thesis' tables from tiny runs on synthetic faces, read back on a second invocation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facexpr.cli import app
from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.synthetic import generate_dataset
from facexpr.experiments.thesis import MEASURED, summary_cells

runner = CliRunner()
TINY = ["--size", "32", "--width", "0.0625", "--epoch-items", "0", "--batch-size", "4", "--no-progress"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """Six synthetic people (neutral, happy, sad) as 32 px crops, split 3/2/1 into train/val/test."""
    root = tmp_path_factory.mktemp("synthetic")
    generate_dataset(root / "raw", n_subjects=6, expressions=("neutral", "happy", "sad"), size=64, seed=0)
    prepare_dataset(root / "raw", root / "prepared", PrepareOptions(size=32, split_ratios=(0.5, 0.25, 0.25)))
    return root / "prepared"


def table_rows(markdown: str) -> tuple[list[str], list[list[str]]]:
    """Header and body cells of the one Markdown table in ``markdown``."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    return cells[0], cells[2:]


def invoke(*args: str):
    """Run ``facexpr experiments`` and return the result."""
    return runner.invoke(app, ["experiments", *args])


def test_table_6_1_rows_come_from_the_summaries_and_a_rerun_reads_them_back(prepared, tmp_path):
    out = tmp_path / "t61"
    args = ["--table", "6.1", "--data", str(prepared), "--out", str(out), "--archs", "bigconv",
            "--betas", "incremental,fixed", "--epochs", "2", *TINY]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    header, rows = table_rows((out / "table6.1.md").read_text())
    assert header == ["encoder", "beta schedule", *MEASURED]
    assert [row[:2] for row in rows] == [["bigconv", "incremental"], ["bigconv", "fixed"]]
    raw = json.loads((out / "table6.1.json").read_text())
    summaries = {}
    for row, entry in zip(rows, raw["rows"]):
        summary_path = out / "stage1" / f"bigconv-{row[1]}" / "summary.json"
        summary = json.loads(summary_path.read_text())
        assert entry["summary"] == summary and not entry["reused"]
        assert float(row[2]) == summary["best_val_mse"]
        assert int(row[3]) == summary["best_epoch"] + 1 and int(row[4]) == summary["epochs"] == 2
        assert row[5] == "max_epochs" and float(row[6]) == pytest.approx(summary["seconds"], abs=0.05)
        assert row[7] == f"`stage1/bigconv-{row[1]}`"
        summaries[summary_path] = summary_path.stat().st_mtime_ns

    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert again.output.count("read back") == 2 and "-incremental: training" not in again.output
    assert {path: path.stat().st_mtime_ns for path in summaries} == summaries
    assert all(entry["reused"] for entry in json.loads((out / "table6.1.json").read_text())["rows"])
    assert table_rows((out / "table6.1.md").read_text())[1] == rows

    other = invoke(*[("3" if arg == "2" else arg) for arg in args])
    assert other.exit_code == 2 and "other settings" in other.output and "epochs: 2 there, 3 now" in other.output


def test_table_6_3_trains_stage_1_once_and_records_it(prepared, tmp_path):
    out = tmp_path / "t63"
    result = invoke("--table", "6.3", "--data", str(prepared), "--out", str(out), "--archs", "bigconv",
                    "--modes", "scratch,frozen-reg", "--shots", "2", "--epochs", "1", *TINY)
    assert result.exit_code == 0, result.output
    markdown = (out / "table6.3.md").read_text()
    header, rows = table_rows(markdown)
    assert header == ["transfer mode", "encoder", "N input photos", *MEASURED]
    assert [row[:3] for row in rows] == [["scratch", "bigconv", "2"], ["frozen-reg", "bigconv", "2"]]
    assert "Stage-1 models: bigconv `stage1/bigconv-incremental`" in markdown
    assert result.output.count("stage1/bigconv-incremental: training") == 1
    spec = json.loads((out / "stage2" / "frozen-reg-bigconv-n2" / "experiment.json").read_text())
    assert spec["pretrained"] == "stage1/bigconv-incremental" and spec["blend"] is False
    for row, folder in zip(rows, ("scratch-bigconv-n2", "frozen-reg-bigconv-n2")):
        summary = json.loads((out / "stage2" / folder / "summary.json").read_text())
        assert float(row[3]) == summary["best_val_mse"] and summary["neutralizer"]["blend"] is False
        assert summary["neutralizer"]["mode"] == row[0] and summary["shots"] == 2


@pytest.mark.parametrize("extra, message", [
    (["--table", "6.4"], "unknown table 6.4"),
    (["--table", "6.1", "--archs", "vgg,alexnet"], "archs: alexnet"),
    (["--table", "6.2", "--shots", "3,five"], "--shots"),
    (["--table", "6.2", "--modes", "frozen-ish"], "modes: frozen-ish"),
])
def test_bad_input_is_one_line(prepared, tmp_path, extra, message):
    result = invoke("--data", str(prepared), "--out", str(tmp_path / "o"), *extra)
    assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1


def test_a_diverged_run_is_flagged():
    summary = {"best_val_mse": 0.05, "best_epoch": 0, "epochs": 8, "stop_reason": "patience: no better validation MSE",
               "seconds": 3.04, "final": {"val_mse": float("nan")}}
    assert summary_cells(summary) == ["0.050000", "1", "8", "patience, diverged (last val MSE not finite)", "3.0"]
