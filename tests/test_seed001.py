"""Table seed001 (issue 12): rows train into their own folders, are measured on held-out people, written as
Markdown + JSON, and read back on a rerun."""

from __future__ import annotations

import json

import pytest

from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.synthetic import generate_dataset
from facexpr.evaluation.scoring import Judges
from facexpr.experiments import Seed001Settings, run_seed001
from facexpr.io import BadInputError
from facexpr.training.data import ConditionalDataModule


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Eight synthetic people (neutral, happy, surprise), 64 px: 4 train, 2 val, 2 test."""
    root = tmp_path_factory.mktemp("seed001")
    generate_dataset(root / "raw", n_subjects=8, expressions=("neutral", "happy", "surprise"), size=160, seed=8)
    prepare_dataset(root / "raw", root / "prepared", PrepareOptions(size=64, split_ratios=(0.5, 0.25, 0.25)))
    return root / "prepared"


def test_rows_are_trained_measured_written_and_read_back(prepared, tmp_path):
    settings = Seed001Settings(data=(prepared,), out=tmp_path / "t", rows=("twostep-mse-step1", "cdcgan-report-k8"),
                               epochs=1, batch_size=8, epoch_items=16, progress=False)
    lines: list[str] = []
    judges = Judges.default()
    markdown, raw = run_seed001(settings, lines.append, judges)
    table = markdown.read_text()
    # a step-1 row brings its refined row along; rows keep the table's order
    assert [line.split(" |")[0] for line in table.splitlines() if line.startswith("| twostep") or
            line.startswith("| cdcgan")] == ["| twostep-mse", "| twostep-mse-step1", "| cdcgan-report-k8"]
    assert "| real photos |" in table
    rows = json.loads(raw.read_text())["rows"]
    for name in ("twostep-mse", "twostep-mse-step1", "cdcgan-report-k8"):
        assert 0 <= rows[name]["id_rank1"] <= 1 and rows[name]["between_targets"] >= 0 and rows[name]["seconds"] > 0
    assert rows["twostep-mse"]["seconds"] > rows["twostep-mse-step1"]["seconds"]  # both steps vs step 1 alone
    k8 = json.loads((tmp_path / "t" / "cdcgan-report-k8" / "summary.json").read_text())
    batches = len(ConditionalDataModule(prepared, batch_size=8, min_epoch_items=16 // 8).train_dataloader())
    assert k8["global_step"] == 2 * 8 * batches  # two players, 8 steps per batch, 1/8 of the epoch's items
    assert sum("training" in line for line in lines) == 2
    lines.clear()
    run_seed001(settings, lines.append, judges)
    assert not any("training" in line or "measuring" in line for line in lines)


def test_unknown_rows_and_missing_splits_are_one_line_errors(prepared, tmp_path):
    with pytest.raises(BadInputError, match="unknown row nope"):
        run_seed001(Seed001Settings(data=(prepared,), out=tmp_path / "a", rows=("nope",)))
    with pytest.raises(BadInputError, match="no split 'holdout'"):
        run_seed001(Seed001Settings(data=(prepared,), out=tmp_path / "b", eval_split="holdout"))
