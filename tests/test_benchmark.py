"""``facexpr benchmark`` measures every fittable family (tiny run: sizes and subjects kept small)."""

from __future__ import annotations

from facexpr.evaluation.benchmark import run_benchmark


def test_benchmark_measures_each_family_at_each_size():
    report = run_benchmark(sizes=(32,), subjects=4, families=("identity", "mean-face"))
    rows = {r["family"]: r for r in report["results"]}
    assert set(rows) == {"identity", "mean-face"}
    assert rows["identity"]["parameters"] == 0 and rows["identity"]["file_bytes"] == 0
    # the mean face stores one 3 x 32 x 32 crop per training subject
    assert rows["mean-face"]["parameters"] % (3 * 32 * 32) == 0 and rows["mean-face"]["parameters"] > 0
    assert rows["mean-face"]["file_bytes"] > 4 * rows["mean-face"]["parameters"]
    assert all(r["ms_per_face_batch1"] > 0 and r["ms_per_face_batch64"] > 0 for r in rows.values())


def test_every_model_family_has_a_training_recipe_and_the_geometric_one_is_benchmarked():
    """A family cannot be registered without a way to train it (training/recipes.py)."""
    from facexpr.models import MODEL_FAMILIES
    from facexpr.training import RECIPES

    assert set(MODEL_FAMILIES) <= set(RECIPES)
    report = run_benchmark(sizes=(64,), subjects=8, families=("geometric",))
    (row,) = report["results"]
    assert row["family"] == "geometric" and row["size"] == 64 and row["fit_seconds"] > 0
    assert row["parameters"] > 0 and row["file_bytes"] > 0
