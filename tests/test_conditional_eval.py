"""The conditional yardstick (issue 12): a conditional model asked for every target on held-out neutral photos,
scored by the FER judge, the identity judge and the landmark cues, with the identity-function score."""

from __future__ import annotations

import json

import pytest
import torch

from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.synthetic import generate_dataset
from facexpr.evaluation import evaluate
from facexpr.evaluation.conditional import CUES, conditional_run, is_conditional
from facexpr.evaluation.scoring import Judges
from facexpr.judges.expression import EXPRESSION_CLASSES
from facexpr.models import FaceModel, IdentityModel
from facexpr.models.cdcgan import CDCGANConfig, CDCGANModel
from facexpr.training.data import open_prepared

TARGETS = ("neutral", "happy", "surprise")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Six synthetic people (neutral, happy, surprise), 64 px; two in the test split."""
    root = tmp_path_factory.mktemp("conditional")
    generate_dataset(root / "raw", n_subjects=6, expressions=TARGETS, size=160, seed=4)
    prepare_dataset(root / "raw", root / "prepared", PrepareOptions(size=64, split_ratios=(0.5, 0.17, 0.33)))
    return root / "prepared"


@pytest.fixture(scope="module")
def judges():
    return Judges.default()


class Brighten(FaceModel):
    """Returns the first photo plus ``step`` times the target's index (0 for neutral): ``step`` 0 is the identity
    function behind a one-hot."""

    family = "test-brighten"

    def __init__(self, step: float):
        super().__init__(64, 3)
        self.step = step

    @property
    def target_expressions(self):
        return TARGETS

    def for_target(self, target):
        return self

    def predict(self, inputs, target=None, strength=1.0):
        index = self.target_expressions.index(self.check_request(target, strength))
        return (inputs[:, 0] + self.step * index).clamp(0, 1)

    @classmethod
    def from_saved(cls, config, tensors):  # pragma: no cover - never saved
        raise NotImplementedError


def test_the_identity_function_behind_a_one_hot_scores_zero_change_and_keeps_the_person(prepared, judges):
    run = conditional_run(Brighten(0.0), [(open_prepared(prepared), "test")], judges)
    summary = run.summary()
    assert run.between_targets == 0.0 and set(summary) == {*TARGETS, "all"}
    assert summary["all"]["n"] == 3 * summary["neutral"]["n"] > 0
    for target in TARGETS:
        assert summary[target]["id_rank1"] == 1.0 and summary[target]["to_input"] == 0.0
        assert summary[target]["sharpness"] == pytest.approx(1.0)
        for cue in CUES:
            assert summary[target][f"d_{cue}"] == pytest.approx(0.0, abs=1e-9)
    # the same (neutral) photos for every target: FER top-1 is how often the judge reads the target on them
    neutral, happy = summary["neutral"]["expression_top1"], summary["happy"]["expression_top1"]
    assert neutral + happy <= 1.0 and {r["expression_top"] for r in run.rows} <= set(EXPRESSION_CLASSES)
    # the real photos show how far a smile moves the lip corners and a surprise opens the mouth
    assert summary["happy"]["real_d_lip_corner_lift"] > 0.02
    assert summary["surprise"]["real_d_mouth_open"] > 0.02
    assert "real_d_mouth_open" not in summary["neutral"]
    assert run.sheet is not None and run.sheet.ndim == 3


def test_the_identity_function_score_is_the_mean_change_between_targets(prepared, judges):
    run = conditional_run(Brighten(0.01), [(open_prepared(prepared), "test")], judges)
    # pairs (neutral, happy), (neutral, surprise), (happy, surprise): 0.01, 0.02, 0.01 (no clamping this close)
    assert run.between_targets == pytest.approx(0.04 / 3, rel=0.05)
    document = run.document()
    assert json.loads(json.dumps(document)) == document and document["targets"]["happy"]["n"] > 0


def test_only_models_of_several_targets_are_conditional(prepared):
    assert is_conditional(Brighten(0.0))
    assert not is_conditional(IdentityModel.fit(open_prepared(prepared)))
    with pytest.raises(ValueError, match="needs several"):
        conditional_run(IdentityModel.fit(open_prepared(prepared)), [(open_prepared(prepared), "test")])


def test_evaluate_reports_the_conditional_yardstick_for_a_conditional_model(prepared, tmp_path, judges):
    torch.manual_seed(0)
    folder = CDCGANModel(CDCGANConfig(size=64, depth=3, width=8, critic_width=8, classes=TARGETS)).save(tmp_path / "m")
    evaluate(str(folder), prepared, "test", tmp_path / "ev", judges=judges)
    document = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert set(document["conditional"]["targets"]) == {*TARGETS, "all"}
    assert document["conditional"]["between_targets"] > 0  # an untrained generator still reads its one-hot
    assert (tmp_path / "ev" / "conditional.png").stat().st_size > 1000
    plain = evaluate("identity", prepared, "test", tmp_path / "plain", judges=judges)
    assert "conditional" not in plain.document
