"""``facexpr classify``: expression probabilities of photos as a CSV, from any Classifier (the FER judge by default)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from facexpr.cli import app
from facexpr.data.synthetic import EXPRESSIONS, identity_from_seed, render_face
from facexpr.io import BadInputError, write_image_atomic
from facexpr.judges.expression import EXPRESSION_CLASSES
from facexpr.models import Classifier, IdentityModel
from facexpr.models.classifiers import ExpressionJudgeClassifier, load_classifier

runner = CliRunner()
COLUMNS = ["path", "expression", *(f"p_{name}" for name in EXPRESSION_CLASSES)]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    """One synthetic person rendered smiling and neutral at 220 px, and a photo of a plain wall (no face)."""
    folder = tmp_path_factory.mktemp("classify")
    person = identity_from_seed(3)
    paths = {}
    for expression in ("happy", "neutral"):
        paths[expression] = folder / f"{expression}.png"
        write_image_atomic(paths[expression], render_face(person, EXPRESSIONS[expression], size=220).image)
    paths["wall"] = folder / "wall.png"
    write_image_atomic(paths["wall"], np.full((220, 220, 3), 128, np.uint8))
    return paths


def _rows(path: Path) -> list[dict[str, str]]:
    """The CSV's rows, after checking its header."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == COLUMNS
        return list(reader)


def test_the_fer_judge_is_a_classifier_and_models_that_cannot_classify_say_so(tmp_path):
    fer = load_classifier("fer")
    assert isinstance(fer, ExpressionJudgeClassifier) and isinstance(fer, Classifier)
    assert fer.classes == EXPRESSION_CLASSES
    probabilities = fer.classify(torch.rand(2, 3, fer.size, fer.size, generator=torch.Generator().manual_seed(0)))
    assert probabilities.shape == (2, 7)
    torch.testing.assert_close(probabilities.sum(1), torch.ones(2))
    IdentityModel(32, 3).save(tmp_path / "identity")
    with pytest.raises(BadInputError, match=r"identity: this model cannot classify expressions \(family identity\)$"):
        load_classifier(tmp_path / "identity")


def test_classify_writes_one_row_per_photo_with_probabilities_summing_to_one(photos, tmp_path):
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["classify", str(photos["happy"]), str(photos["neutral"]), "--model", "fer",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = _rows(out)
    assert [row["path"] for row in rows] == [str(photos["happy"]), str(photos["neutral"])]
    for row in rows:
        values = np.array([float(row[f"p_{name}"]) for name in EXPRESSION_CLASSES])
        assert abs(values.sum() - 1) < 1e-4 and (values >= 0).all()
        assert row["expression"] == EXPRESSION_CLASSES[int(values.argmax())]
    smiling, neutral = rows
    assert float(smiling["p_happy"]) > float(neutral["p_happy"])  # each row belongs to its own photo


def test_a_photo_without_a_face_is_a_one_line_error_and_the_others_are_still_written(photos, tmp_path):
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["classify", str(photos["wall"]), str(photos["happy"]), "--out", str(out)])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(photos["wall"]) in errors[0] and "no face found" in errors[0]
    assert "Traceback" not in result.output
    assert [row["path"] for row in _rows(out)] == [str(photos["happy"])]
    nothing = tmp_path / "nothing.csv"
    result = runner.invoke(app, ["classify", str(photos["wall"]), "--out", str(nothing)])
    assert result.exit_code == 2 and not nothing.exists()


def test_classify_refuses_a_model_that_cannot_classify_in_one_line(photos, tmp_path):
    IdentityModel(32, 3).save(tmp_path / "identity")
    result = runner.invoke(app, ["classify", str(photos["happy"]), "--model", str(tmp_path / "identity"),
                                 "--out", str(tmp_path / "out.csv")])
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0
    assert "this model cannot classify expressions (family identity)" in result.output
    assert not (tmp_path / "out.csv").exists()
