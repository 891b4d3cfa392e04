"""``facexpr evaluate`` / ``compare``: items, baselines, metrics.json, pairs and the report."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from facexpr.data.pairing import PreparedDataset
from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.records import read_manifest, write_manifest
from facexpr.data.synthetic import generate_dataset
from facexpr.evaluation import compare, evaluate, evaluation_items, resolve_model
from facexpr.io import to_uint8, write_image_atomic
from facexpr.models import IdentityModel, MeanFaceModel, SubjectHeldOutModel, load_model

METRIC_KEYS = {"psnr", "ssim", "mse", "mse_255", "sharpness", "id_distance", "id_same_rate", "id_rank1",
               "landmark_error", "p_neutral", "expression_top1"}


@pytest.fixture(scope="module")
def synthetic_prepared(tmp_path_factory):
    """Nine synthetic people (neutral, happy, surprise), 64 px, split 0.34/0.33/0.33."""
    root = tmp_path_factory.mktemp("eval")
    generate_dataset(root / "raw", n_subjects=9, expressions=("neutral", "happy", "surprise"), size=160, seed=11)
    prepare_dataset(root / "raw", root / "prepared", PrepareOptions(size=64, split_ratios=(0.34, 0.33, 0.33)))
    return root / "prepared"


def test_items_pair_each_expressive_crop_with_its_neutral(synthetic_prepared):
    records = PreparedDataset(synthetic_prepared).select(split="test")
    items = evaluation_items(records)
    assert items and all(i.target.is_neutral and not i.inputs[0].is_neutral for i in items)
    assert all(i.inputs[0].subject == i.target.subject for i in items)
    groups = evaluation_items(records, shots=5)
    assert len(groups) == len({i.key for i in items}) and all(len(g.inputs) == 2 for g in groups)
    synthesis = evaluation_items(records, target_expression="happy")
    assert all(i.inputs[0].is_neutral and i.target.expression == "happy" for i in synthesis)


def test_evaluate_identity_writes_pairs_metrics_and_report(synthetic_prepared, tmp_path):
    result = evaluate("identity", synthetic_prepared, "test", tmp_path / "ev")
    document = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert document["model"] == "identity" and document["n"] == len(result.items) > 0
    assert set(document["metrics"]) == METRIC_KEYS
    assert "mean-neutral" in document["baselines"]
    names = {p.name for p in (tmp_path / "ev" / "pairs" / "input").iterdir()}
    assert names == {p.name for p in (tmp_path / "ev" / "pairs" / "output").iterdir()}
    assert names == {p.name for p in (tmp_path / "ev" / "pairs" / "target").iterdir()}
    # identity returns the input: output and input images are the same files' pixels
    for name in names:
        assert (tmp_path / "ev" / "pairs" / "input" / name).read_bytes() == (tmp_path / "ev" / "pairs" / "output" / name).read_bytes()
    page = (tmp_path / "ev" / "report.html").read_text()
    assert page.count("<img") >= 4 and "pairs/output/" in page and "mean-neutral" in page
    assert (tmp_path / "ev" / "plots" / "distributions.png").stat().st_size > 1000
    assert (tmp_path / "ev" / "items.csv").read_text().count("\n") == len(result.items) + 1


def test_identical_output_and_target_give_infinite_psnr_and_unit_ssim(synthetic_prepared, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(synthetic_prepared, copy)
    records = read_manifest(copy / "manifest.csv")
    neutral = {r.subject: r.path for r in records if r.is_neutral}
    for r in records:
        if not r.is_neutral:
            shutil.copyfile(copy / neutral[r.subject], copy / r.path)
    write_manifest(copy / "manifest.csv", records)
    document = evaluate("identity", copy, "test", tmp_path / "ev").document
    assert document["metrics"]["psnr"] == "inf"
    assert document["metrics"]["ssim"] == pytest.approx(1.0)
    assert document["metrics"]["mse"] == 0.0 and document["metrics"]["id_rank1"] == 1.0


def test_mean_face_leaves_the_subject_out_on_a_held_out_set(synthetic_prepared, tmp_path):
    held_out = tmp_path / "held"
    shutil.copytree(synthetic_prepared, held_out)
    records = read_manifest(held_out / "manifest.csv")
    for r in records:
        r.split = "test"
    write_manifest(held_out / "manifest.csv", records)
    prepared = PreparedDataset(held_out)
    model = MeanFaceModel.fit(prepared, "test")
    assert model.loso and len(model.subject_keys) == 9
    key = model.subject_keys[0]
    others = torch.stack([m for k, m in zip(model.subject_keys, model.subject_means) if k != key]).mean(0)
    predicted = model.predict_leaving_out(torch.zeros(1, 1, 3, 64, 64), [key])[0]
    assert torch.allclose(predicted, others, atol=1e-6)
    assert not torch.allclose(predicted, model.subject_means.mean(0), atol=1e-4)
    model.save(tmp_path / "mean")
    again = load_model(tmp_path / "mean")
    assert isinstance(again, SubjectHeldOutModel) and again.loso
    assert torch.equal(again.predict_leaving_out(torch.zeros(1, 1, 3, 64, 64), [key]),
                       model.predict_leaving_out(torch.zeros(1, 1, 3, 64, 64), [key]))


def _two_people(tmp_path) -> PreparedDataset:
    """A held-out set (no training split) of two people with very different faces: one black, one white."""
    from facexpr.data.records import FaceRecord

    for subject, value in (("dark", 0), ("light", 255)):
        for expression in ("neutral", "happy"):
            write_image_atomic(tmp_path / "crops" / f"{subject}_{expression}.png", np.full((16, 16, 3), value, np.uint8))
    records = [FaceRecord(f"crops/{s}_{e}.png", s, e, split="test") for s in ("dark", "light") for e in ("neutral", "happy")]
    write_manifest(tmp_path / "manifest.csv", records)
    return PreparedDataset(tmp_path)


def test_mean_neutral_evaluated_on_a_held_out_set_never_uses_the_items_own_person(tmp_path):
    """Fitted on two very different people of the set it is scored on, mean-neutral gives each person the
    other's face, never the mean of both (which holds the person's own) nor their own; predict alone has
    nobody to leave out and gives the mean."""
    from facexpr.evaluation.evaluate import run_model

    prepared = _two_people(tmp_path)
    model = resolve_model("mean-neutral", prepared, "test")
    assert model.loso
    items = evaluation_items(prepared.select("test"))
    outputs, _ = run_model(model, prepared, items)
    for item, output in zip(items, outputs):
        own = 0 if item.target.subject == "dark" else 255
        assert np.all(output == 255 - own), item.name
    assert np.all(np.abs(to_uint8(model.predict(torch.zeros(1, 1, 3, 16, 16))).astype(int) - 128) <= 1)


def test_compare_reports_every_model_on_the_same_items(synthetic_prepared, tmp_path):
    IdentityModel.fit(PreparedDataset(synthetic_prepared)).save(tmp_path / "identity-dir")
    result = compare([str(tmp_path / "identity-dir"), "mean-neutral"], synthetic_prepared, "test", tmp_path / "cmp")
    document = json.loads((tmp_path / "cmp" / "metrics.json").read_text())
    assert [m["model"] for m in document["models"]] == ["identity", "mean-neutral"]
    assert (tmp_path / "cmp" / "pairs" / "output-1").is_dir()
    identity, mean = result.runs
    assert identity.summary["landmark_error"] > 0
    assert not np.array_equal(identity.outputs, mean.outputs)


@pytest.mark.slow
def test_frl_identity_is_recognised_and_the_mean_face_is_not(frl_london, tmp_path):
    prepared = tmp_path / "frl"
    prepare_dataset(frl_london, prepared, PrepareOptions(size=128))
    document = evaluate("identity", prepared, "test", tmp_path / "ev").document
    n_subjects = document["n"]
    assert document["metrics"]["id_rank1"] == 1.0
    mean = document["baselines"]["mean-neutral"]["metrics"]
    assert mean["id_rank1"] <= 3.0 / n_subjects + 0.1  # chance is 1/n


def test_a_model_smaller_than_the_crops_is_evaluated_beside_baselines_at_its_size(synthetic_prepared, tmp_path):
    """A 32 px model on 64 px crops: targets, outputs and the mean-face baseline all at 32 px."""
    IdentityModel(32, 3, None, "neutral").save(tmp_path / "small")
    result = evaluate(str(tmp_path / "small"), synthetic_prepared, "test", tmp_path / "eval")
    assert [run.outputs.shape[1:3] for run in result.runs] == [(32, 32), (32, 32)]
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["n"] == len(result.items)


def test_a_grey_model_on_colour_crops_is_scored_beside_baselines_in_grey(synthetic_prepared, tmp_path):
    """A grey model (the paper presets) on RGB data: its targets are grey, and the baselines, which run at the
    data's channels, are scored in grey too (the luma of their outputs) instead of failing on the shapes."""
    IdentityModel(32, 1, None, "neutral").save(tmp_path / "grey")
    result = evaluate(str(tmp_path / "grey"), synthetic_prepared, "test", tmp_path / "eval")
    assert [run.outputs.shape[1:] for run in result.runs] == [(32, 32)] * len(result.runs)
    grey, identity = result.runs[0], next(run for run in result.runs if run.name == "identity")
    assert grey.summary["psnr"] == pytest.approx(identity.summary["psnr"], abs=0.05)


class _MeanOfPhotos(IdentityModel):
    """Returns the mean of its input photos: an output that depends on how many photos an item gets."""

    def predict(self, inputs, target=None, strength=1.0):
        return inputs.mean(dim=1)


def test_multi_photo_outputs_do_not_depend_on_the_batch(synthetic_prepared):
    """Items with different photo counts are each run with all their photos, whatever the batch size."""
    from facexpr.evaluation.evaluate import run_model

    data = PreparedDataset(synthetic_prepared)
    records = data.select("test")
    dropped = next(r for r in records if not r.is_neutral)
    items = evaluation_items([r for r in records if r is not dropped], "neutral", shots=3)
    counts = sorted({len(item.inputs) for item in items})
    assert len(counts) == 2  # one person lost a photo
    model = _MeanOfPhotos(data.load(records[0]).shape[-1], 3, None, "neutral", max_inputs=3)
    one_by_one, _ = run_model(model, data, items, batch_size=1)
    together, _ = run_model(model, data, items, batch_size=64)
    assert np.abs(one_by_one.astype(int) - together).max() <= 1
    fewer = next(i for i, item in enumerate(items) if len(item.inputs) == counts[0])
    expected = torch.stack([data.load(r) for r in items[fewer].inputs]).mean(0)
    assert np.abs(together[fewer].astype(float) / 255 - expected.permute(1, 2, 0).numpy()).max() < 0.01
