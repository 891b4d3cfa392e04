"""The conditional DCGAN (issue 12): config and presets, the model contract, the identity-function score, and
short trainings on synthetic faces (the one-hot matters with the default preset; k steps per batch)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import facexpr.training.cdcgan  # noqa: F401  registers ``facexpr train cdcgan``
from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.synthetic import generate_dataset
from facexpr.evaluation.conditional import identity_function_score
from facexpr.io import BadInputError
from facexpr.models.base import FaceModel, load_model
from facexpr.models.cdcgan import CDCGANConfig, CDCGANModel
from facexpr.training import TrainOptions
from facexpr.training.cdcgan import (
    CDCGANMethod,
    cdcgan_weights,
    judge_indices,
    train_cdcgan,
)
from facexpr.training.data import ConditionalDataModule

EXPRESSIONS = ("neutral", "happy", "surprise")
#: The tiny networks of these tests: 32 px, three halvings, 8 channels.
TINY = {"size": 32, "depth": 3, "width": 8, "critic_width": 8}


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """10 synthetic people (8 train, 2 val), neutral / happy / surprise, 32 px crops."""
    root = tmp_path_factory.mktemp("cdcgan")
    generate_dataset(root / "raw", n_subjects=10, expressions=EXPRESSIONS, size=96, seed=5)
    prepare_dataset(root / "raw", root / "prepared", PrepareOptions(size=32, split_ratios=(0.8, 0.2, 0.0)))
    return root / "prepared"


def _options(epochs: int, **changes) -> TrainOptions:
    return TrainOptions(**{"epochs": epochs, "batch_size": 8, "progress": False, "logs": False, "patience": 50,
                           "departure": 0.0, "augment": False, **changes})


def _val_inputs(faces: Path) -> torch.Tensor:
    data = ConditionalDataModule(faces)
    return torch.stack([data.val_set[i]["input"] for i in range(len(data.val_set))]).unsqueeze(1)


@pytest.fixture(scope="module")
def trained(faces, tmp_path_factory):
    """The default preset trained briefly (tiny networks; 8 epochs of 12 batches)."""
    out = tmp_path_factory.mktemp("cdcgan_run") / "model"
    torch.manual_seed(0)
    config = CDCGANConfig.from_preset(**TINY)
    return train_cdcgan(faces, out, config=config, options=_options(8, min_epoch_items=96, lr=3e-3))


# ------------------------------------------------------------------ config


def test_presets_and_json_round_trip():
    default = CDCGANConfig.from_preset()
    assert (default.preset, default.projection, default.mismatch, default.output) == ("fixed", True, True, "residual")
    assert default.expression == 0.0 and CDCGANConfig.from_preset(expression=0.1).expression == 0.1
    report = CDCGANConfig.from_preset("report", steps_per_batch=8, width=None)
    assert (report.projection, report.mismatch, report.auxiliary, report.output, report.expression) == \
        (False, False, False, "image", 0.0)
    assert report.steps_per_batch == 8 and report.width == CDCGANConfig.width
    changed = default.with_changes(classes=("neutral", "contempt"), channels=1)
    assert CDCGANConfig.from_dict({**changed.to_dict(), "unknown": 1}) == changed
    with pytest.raises(ValueError, match="unknown preset"):
        CDCGANConfig.from_preset("paper")
    with pytest.raises(ValueError, match="mismatch needs the projection"):
        CDCGANConfig.from_preset(projection=False)
    with pytest.raises(ValueError, match="steps_per_batch"):
        CDCGANConfig(steps_per_batch=0)


def test_expression_loss_only_for_classes_the_judge_knows():
    assert judge_indices(("neutral", "contempt", "happy")) == [6, -1, 3]
    assert "expression" in cdcgan_weights(CDCGANConfig(classes=("neutral", "contempt"), expression=0.1))
    assert "expression" not in cdcgan_weights(CDCGANConfig(classes=("contempt", "other"), expression=0.1))
    assert "expression" not in cdcgan_weights(CDCGANConfig())
    report = cdcgan_weights(CDCGANConfig.from_preset("report"))
    assert set(report) == {"real", "fake", "l1", "adversarial"}
    auxiliary = cdcgan_weights(CDCGANConfig.from_preset("report", auxiliary=True))
    assert {"real_class", "fake_class"} <= set(auxiliary)


def test_method_terms_per_player_and_gradient_through_the_judge():
    """Each player gets its own terms; the expression term sends gradients back to the generator."""
    torch.manual_seed(0)
    config = CDCGANConfig.from_preset(auxiliary=True, expression=0.1, **TINY)
    method = CDCGANMethod(config)
    batch = {"input": torch.rand(4, 3, 32, 32), "target": torch.rand(4, 3, 32, 32),
             "label": torch.tensor([0, 1, 2, 1])}
    outputs = method.run(batch)
    assert outputs["output"].shape == (4, 3, 32, 32)
    critic = method.losses("discriminator", outputs)
    assert {"real", "fake", "mismatch", "real_class", "critic_real", "critic_fake"} <= set(critic)
    terms = method.losses("generator", outputs)
    assert {"l1", "adversarial", "fake_class", "expression"} <= set(terms)
    terms["expression"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in method.net.parameters())
    assert not any(key.startswith("_judge") or "judge" in key for key in method.state_dict())


# ------------------------------------------------------------------ model and score


def test_model_contract_targets_strength_and_for_target():
    torch.manual_seed(0)
    model = CDCGANModel(CDCGANConfig(**TINY))
    assert model.family == "cdcgan" and model.target_expressions == EXPRESSIONS
    assert model.target_expression == "neutral"
    inputs = torch.rand(2, 3, 3, 48, 48)  # resized to the model's 32 px; the first photo only
    out = model.predict(inputs, "happy")
    assert out.shape == (2, 3, 32, 32) and 0 <= float(out.min()) and float(out.max()) <= 1
    assert torch.equal(model.predict(inputs, "smiling"), out)  # names are normalised
    assert torch.equal(model.for_target("happy").predict(inputs), out)
    assert torch.allclose(model.predict(inputs[:, :1], "happy"), out)
    with pytest.raises(ValueError, match=r"cannot produce 'angry' \(it knows: neutral, happy, surprise\)"):
        model.predict(inputs, "angry")
    with pytest.raises(ValueError, match="it knows: neutral, happy, surprise"):
        model.for_target("angry")
    with pytest.raises(ValueError, match="full strength only"):
        model.predict(inputs, "happy", strength=0.5)


class ShiftModel(FaceModel):
    """Adds 0.1 times its target's index to the first photo (no clamp needed at 0.5 grey)."""

    family = "test-shift"

    def __init__(self):
        super().__init__(8, 1)

    @property
    def target_expressions(self):
        return ("neutral", "happy", "surprise")

    def predict(self, inputs, target=None, strength=1.0):
        return inputs[:, 0] + 0.1 * self.target_expressions.index(self.check_request(target, strength))

    @classmethod
    def from_saved(cls, config, tensors):  # pragma: no cover - never saved
        raise NotImplementedError


def test_identity_function_score_on_known_models():
    inputs = torch.full((3, 1, 1, 8, 8), 0.5)
    score = identity_function_score(ShiftModel(), inputs)
    # pairs (0, 1), (0, 2), (1, 2): 0.1, 0.2, 0.1; outputs from the input: 0, 0.1, 0.2
    assert score["between_targets"] == pytest.approx(0.4 / 3)
    assert score["to_input"] == pytest.approx(0.1)
    assert identity_function_score(ShiftModel(), inputs, ("neutral", "happy"))["between_targets"] == \
        pytest.approx(0.1)
    with pytest.raises(ValueError, match="at least two targets"):
        identity_function_score(ShiftModel(), inputs, ("happy",))


# ------------------------------------------------------------------ training


def test_default_preset_learns_a_one_hot_that_changes_the_output(trained, faces):
    """A short run of the default (fixed) preset: outputs for different targets differ clearly."""
    model = trained.model
    assert isinstance(model, CDCGANModel) and model.target_expressions == EXPRESSIONS
    assert trained.summary["expression_loss"] is False
    for name in ("train/l1", "train/adversarial", "train/discriminator_real",
                 "train/discriminator_fake", "train/discriminator_mismatch"):
        assert name in trained.summary["final"], name
    score = identity_function_score(model, _val_inputs(faces))
    assert score["between_targets"] > 0.007, score  # 0.014 when written (untrained: 0.0003; report preset: see below)


def test_saved_model_loads_and_predicts_the_same(trained, faces):
    loaded = load_model(trained.out_dir)
    assert isinstance(loaded, CDCGANModel) and loaded.cdcgan_config == trained.model.cdcgan_config
    inputs = _val_inputs(faces)
    for target in EXPRESSIONS:
        assert torch.allclose(loaded.predict(inputs, target), trained.model.predict(inputs, target), atol=1e-5)
    with pytest.raises(ValueError, match="it knows: neutral, happy, surprise"):
        loaded.predict(inputs, "contempt")


def test_steps_per_batch_takes_k_steps_of_every_player(faces, tmp_path):
    data = ConditionalDataModule(faces, batch_size=8)
    batches = len(data.train_dataloader())
    config = CDCGANConfig.from_preset("report", steps_per_batch=3, **TINY)
    result = train_cdcgan(faces, tmp_path / "k3", config=config, options=_options(1, min_epoch_items=0))
    assert result.summary["global_step"] == 2 * 3 * batches
    assert result.model.name == "cdcgan-report-k3"


def test_a_run_killed_mid_epoch_resumes_from_its_last_checkpoint(faces, tmp_path, interrupt_at):
    """Two optimizer steps per batch (discriminator, generator): killed after 2 batches, the same call resumes
    from there to the planned end; the finished folder is then refused."""
    out = tmp_path / "killed"
    config = CDCGANConfig.from_preset(**TINY)
    run = _options(2, min_epoch_items=0, checkpoint_every=1)
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        train_cdcgan(faces, out, config=config, options=run, callbacks=(interrupt_at(4),))
    assert (out / "checkpoints" / "last.ckpt").is_file() and not (out / "summary.json").exists()
    result = train_cdcgan(faces, out, config=config, options=run)
    batches = len(ConditionalDataModule(faces, batch_size=8).train_dataloader())
    assert result.summary["resumed_from_step"] == 4 and result.summary["global_step"] == 2 * 2 * batches
    with pytest.raises(BadInputError, match="already holds a trained model"):
        train_cdcgan(faces, out, config=config, options=run)


def test_train_cdcgan_help_lists_the_config_options():
    from facexpr.cli import app

    result = CliRunner().invoke(app, ["train", "cdcgan", "--help"], env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"})
    assert result.exit_code == 0, result.output
    for flag in ("--preset", "--projection", "--mismatch", "--auxiliary", "--reconstruction", "--adversarial",
                 "--expression", "--steps-per-batch", "--inject", "--output", "--critic-width", "--epochs"):
        assert flag in result.output, flag
    assert "--classes" not in result.output and "--channels" not in result.output
