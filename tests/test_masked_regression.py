"""Masked regression: the closed form, recovery of known local filters, colour, dilation, baselines, ego, CLI, FRL."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from facexpr.cli import app
from facexpr.data.pairing import PreparedDataset
from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.synthetic import generate_dataset
from facexpr.io import BadInputError, load_image
from facexpr.models import MODEL_FAMILIES, load_model
from facexpr.models.masked_regression import (
    INTERPRETABILITY_IMAGES,
    EgoOptions,
    GlobalRidge,
    MaskedLasso,
    MaskedOMP,
    MaskedRegression,
    ReceptiveField,
    RidgeAccumulator,
    apply_local_linear,
    expression_mappings,
)

runner = CliRunner()
NO_EGO = EgoOptions(enabled=False)


def _random_filter(generator: torch.Generator, field: ReceptiveField, groups: int, size: int) -> torch.Tensor:
    """A spatially varying local linear map: (G, K + 1, size, size) weights, every pixel its own."""
    return torch.randn(groups, field.taps + 1, size, size, generator=generator) * 0.5


def _direct_pixel_solve(x: torch.Tensor, y: torch.Tensor, field: ReceptiveField, row: int, col: int,
                        lam: float, per_pair: int, group: int = 0) -> torch.Tensor:
    """The ridge solution of one pixel by a plain least-squares solve of its augmented system.

    Minimises sum over pairs of the mean over a pair's ``per_pair`` samples of
    (y - w.x - b)^2, plus lam * |w|^2: rows weighted by 1/sqrt(per_pair),
    plus sqrt(lam) * [I 0] rows for the (unregularised-bias) penalty.
    """
    padded = field.padded(x.double())
    taps = torch.stack([padded[:, group, field.pad + row + dy, field.pad + col + dx] for dy, dx in field.offsets], 1)
    design = torch.cat([taps, torch.ones(len(taps), 1, dtype=torch.float64)], 1) / per_pair ** 0.5
    response = y[:, group, row, col].double() / per_pair ** 0.5
    penalty = torch.cat([torch.eye(field.taps), torch.zeros(field.taps, 1)], 1).double() * lam ** 0.5
    system = torch.cat([design, penalty])
    rhs = torch.cat([response, torch.zeros(field.taps, dtype=torch.float64)])
    return torch.linalg.lstsq(system, rhs[:, None]).solution[:, 0]


@pytest.mark.parametrize("r, dilation, per_pair", [(3, 1, 1), (3, 2, 3), (5, 1, 1), (1, 1, 3)])
def test_closed_form_matches_a_direct_least_squares_solve_of_each_pixel(r, dilation, per_pair):
    generator = torch.Generator().manual_seed(r * 10 + dilation)
    field = ReceptiveField(r, dilation)
    x = torch.rand(33, 2, 11, 9, generator=generator)
    y = torch.rand(33, 2, 11, 9, generator=generator)
    accumulator = RidgeAccumulator(field, 2, 11, 9, samples_per_pair=per_pair)
    accumulator.add(x[:20], y[:20])  # two calls: the statistics are streamed
    accumulator.add(x[20:], y[20:])
    weights = accumulator.solve(0.05)
    assert weights.shape == (2, field.taps + 1, 11, 9)
    for group, row, col in [(0, 0, 0), (1, 5, 4), (0, 10, 8), (1, 3, 0), (0, 10, 2)]:
        expected = _direct_pixel_solve(x, y, field, row, col, 0.05, per_pair, group)
        torch.testing.assert_close(weights[group, :, row, col].double(), expected, atol=2e-5, rtol=1e-4)


def test_lambda_is_weighed_against_the_pair_summed_error():
    """The same data repeated twice is twice the evidence: it equals half the lambda on the data once."""
    generator = torch.Generator().manual_seed(3)
    x, y = torch.rand(10, 1, 8, 8, generator=generator), torch.rand(10, 1, 8, 8, generator=generator)
    twice = RidgeAccumulator(ReceptiveField(), 1, 8, 8)
    twice.add(torch.cat([x, x]), torch.cat([y, y]))
    once = RidgeAccumulator(ReceptiveField(), 1, 8, 8)
    once.add(x, y)
    torch.testing.assert_close(twice.solve(0.2), once.solve(0.1), atol=1e-5, rtol=1e-4)
    assert not torch.allclose(once.solve(0.2), once.solve(0.1), atol=1e-3)


@pytest.mark.parametrize("dilation", [1, 2])
def test_a_known_spatially_varying_local_filter_is_recovered_exactly(dilation):
    generator = torch.Generator().manual_seed(dilation)
    field = ReceptiveField(3, dilation)
    truth = _random_filter(generator, field, 1, 16)
    x = torch.rand(40, 1, 16, 16, generator=generator)
    y = apply_local_linear(x, truth, field)
    model = MaskedRegression.fit_batches([(x, y)], "happy", "neutral", field, lam=1e-9, ego=NO_EGO)
    margin = field.pad  # border taps repeat (replicated padding): their weights are not identifiable, outputs are
    inner = (slice(None), slice(None), slice(margin, 16 - margin), slice(margin, 16 - margin))
    torch.testing.assert_close(model.weights[inner], truth[inner], atol=2e-3, rtol=1e-3)
    fresh = torch.rand(5, 1, 16, 16, generator=generator)
    torch.testing.assert_close(apply_local_linear(fresh, model.weights, field),
                               apply_local_linear(fresh, truth, field), atol=2e-3, rtol=1e-3)


def test_applying_the_filter_to_one_grey_image_leaves_the_weights_alone():
    """One grey image under one weight set: the bias plane expands to nothing, and the sum must still go into a
    copy (it once accumulated into the weights themselves, so every call changed the model)."""
    generator = torch.Generator().manual_seed(3)
    field = ReceptiveField(3, 1)
    weights = _random_filter(generator, field, 1, 16)
    kept = weights.clone()
    x = torch.rand(1, 1, 16, 16, generator=generator)
    first = apply_local_linear(x, weights, field)
    torch.testing.assert_close(weights, kept, atol=0, rtol=0)
    torch.testing.assert_close(apply_local_linear(x, weights, field), first, atol=1e-6, rtol=0)


def test_dilation_is_used_a_dilated_filter_is_not_a_plain_one():
    generator = torch.Generator().manual_seed(5)
    dilated = ReceptiveField(3, 2)
    assert dilated.offsets[0] == (-2, -2) and dilated.pad == 2
    truth = _random_filter(generator, dilated, 1, 16)
    x = torch.rand(40, 1, 16, 16, generator=generator)
    y = apply_local_linear(x, truth, dilated)
    plain = MaskedRegression.fit_batches([(x, y)], field=ReceptiveField(3, 1), lam=1e-9, ego=NO_EGO)
    right = MaskedRegression.fit_batches([(x, y)], field=dilated, lam=1e-9, ego=NO_EGO)
    plain_error = (apply_local_linear(x, plain.weights, plain.field) - y).pow(2).mean()
    right_error = (apply_local_linear(x, right.weights, dilated) - y).pow(2).mean()
    assert right_error < 1e-8 < 1e-3 < plain_error


def test_colour_tuple_shares_one_weight_set_and_channel_mode_fits_each_channel():
    generator = torch.Generator().manual_seed(7)
    field = ReceptiveField()
    shared = _random_filter(generator, field, 1, 12)
    x = torch.rand(30, 3, 12, 12, generator=generator)
    y = apply_local_linear(x, shared, field)
    tuple_model = MaskedRegression.fit_batches([(x, y)], lam=1e-9, colour="tuple", ego=NO_EGO)
    assert tuple_model.weights.shape[0] == 1 and tuple_model.colour == "tuple"
    inner = (slice(None), slice(None), slice(1, 11), slice(1, 11))
    torch.testing.assert_close(tuple_model.weights[inner], shared[inner], atol=2e-3, rtol=1e-3)

    separate = _random_filter(generator, field, 3, 12)
    y = apply_local_linear(x, separate, field)
    channel_model = MaskedRegression.fit_batches([(x, y)], lam=1e-9, colour="channel", ego=NO_EGO)
    assert channel_model.weights.shape[0] == 3
    torch.testing.assert_close(channel_model.weights[inner], separate[inner], atol=2e-3, rtol=1e-3)
    # one shared set cannot express three different filters
    shared_fit = MaskedRegression.fit_batches([(x, y)], lam=1e-9, colour="tuple", ego=NO_EGO)
    assert (apply_local_linear(x, shared_fit.weights, field) - y).pow(2).mean() > 1e-3

    grey = MaskedRegression.fit_batches([(x[:, :1], y[:, :1])], lam=0.3, colour="channel", ego=NO_EGO)
    assert grey.colour == "tuple" and grey.channels == 1  # grey images always use one set


def test_baselines_run_and_recover_what_they_should():
    generator = torch.Generator().manual_seed(11)
    field = ReceptiveField()
    x = torch.rand(24, 3, 10, 10, generator=generator)
    centre_only = torch.zeros(1, field.taps + 1, 10, 10)
    centre_only[0, field.taps // 2] = 0.8
    centre_only[0, -1] = 0.1
    y = apply_local_linear(x, centre_only, field)
    batches = [(x[:12], y[:12]), (x[12:], y[12:])]

    inner = (slice(None), slice(None), slice(1, 9), slice(1, 9))  # border taps repeat: any copy of the centre will do
    omp = MaskedOMP.fit_batches(batches, nonzero=1, ego=NO_EGO)
    torch.testing.assert_close(omp.weights[inner], centre_only[inner], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(apply_local_linear(x, omp.weights, field), y, atol=1e-5, rtol=1e-5)

    lasso = MaskedLasso.fit_batches(batches, l1=1e-3, ego=NO_EGO)
    weights = lasso.weights[inner][0]
    off_centre = torch.cat([weights[:field.taps // 2], weights[field.taps // 2 + 1:-1]])
    assert off_centre.abs().max() < 0.02  # l1 keeps the other taps (near) zero
    torch.testing.assert_close(weights[field.taps // 2], centre_only[inner][0, field.taps // 2], atol=0.03, rtol=0)
    assert lasso.fit_options["unconverged_pixels"] == 0

    ridge = GlobalRidge.fit_batches(batches, lam=1e-3)
    predicted = ridge.predict(x[:, None])
    assert predicted.shape == x.shape and predicted.min() >= 0 and predicted.max() <= 1
    with pytest.raises(ValueError, match="taps"):
        MaskedOMP.fit_batches(batches, nonzero=10)


def test_global_ridge_dual_equals_the_primal_solution():
    generator = torch.Generator().manual_seed(13)
    x = torch.rand(9, 1, 6, 6, generator=generator)  # N = 9 pairs, D = 36 pixels
    y = torch.rand(9, 1, 6, 6, generator=generator) * 0.5 + 0.2
    lam = 0.7
    model = GlobalRidge.fit_batches([(x, y)], lam=lam)
    flat_x, flat_y = x.reshape(9, -1).double(), y.reshape(9, -1).double()
    centred_x, centred_y = flat_x - flat_x.mean(0), flat_y - flat_y.mean(0)
    primal = torch.linalg.solve(centred_x.T @ centred_x + lam * torch.eye(36, dtype=torch.float64), centred_x.T @ centred_y)
    fresh = torch.rand(4, 1, 6, 6, generator=generator)
    expected = (fresh.reshape(4, -1).double() - flat_x.mean(0)) @ primal + flat_y.mean(0)
    torch.testing.assert_close(model.predict(fresh[:, None]).reshape(4, -1).double(), expected.clamp(0, 1),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cls", [MaskedRegression, MaskedLasso, MaskedOMP, GlobalRidge])
def test_save_and_load_round_trip(cls, tmp_path):
    generator = torch.Generator().manual_seed(17)
    x = torch.rand(10, 3, 12, 12, generator=generator)
    y = (x * 0.7 + 0.1).clamp(0, 1)
    model = cls.fit_batches([(x, y)], "neutral", "surprise")
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is cls and cls.family in MODEL_FAMILIES
    assert loaded.source_expressions == ("neutral",) and loaded.target_expression == "surprise"
    assert loaded.task == "synthesize"
    for name, saved in model.tensors().items():  # the stored numbers come back exactly
        assert torch.equal(loaded.tensors()[name], saved.float()), name
    # Predictions are recomputed: equal up to rounding, which differs between BLAS builds and CPUs.
    torch.testing.assert_close(loaded.predict(x[:, None]), model.predict(x[:, None]), atol=1e-5, rtol=1e-5)
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["family"] == cls.family and config["fit"]["pairs"] == 10
    if cls is not GlobalRidge:
        assert config["border"] == "replicate" and config["r"] == 3
        for name in INTERPRETABILITY_IMAGES:
            assert load_image(tmp_path / "m" / name).shape[:2] == (12, 12)


def test_a_128px_rgb_model_is_small():
    weights = torch.zeros(1, 10, 128, 128)
    weights[0, 4] = 1.0
    model = MaskedRegression(weights, ReceptiveField(), 3, "tuple", "happy", "neutral")
    assert sum(t.numel() * 4 for t in model.tensors().values()) < 1_000_000


def test_ego_keeps_the_input_exactly_where_the_weights_are_ordinary():
    size, field = 48, ReceptiveField()
    weights = torch.zeros(1, field.taps + 1, size, size)
    weights[0, field.taps // 2] = 1.0  # copy the input everywhere ...
    weights[0, :field.taps, 20:28, 20:28] = 0.4  # ... except a patch whose weights stand out (norm 3.6)
    weights[0, -1, 20:28, 20:28] = -0.3
    options = EgoOptions(True, threshold=1.0, radius=2, sigma=2)
    model = MaskedRegression(weights, field, 3, "tuple", "happy", "neutral", options)
    assert model.alpha.max() == 1.0 and model.alpha[0:8].abs().max() == 0
    x = torch.rand(4, 1, 3, size, size, generator=torch.Generator().manual_seed(19))
    refined = model.predict(x)
    far = model.alpha == 0
    assert far.float().mean() > 0.5
    torch.testing.assert_close(refined[..., far], x[:, 0][..., far], atol=0, rtol=0)
    plain = MaskedRegression(weights, field, 3, "tuple", "happy", "neutral", NO_EGO).predict(x)
    assert not torch.equal(plain[..., 24, 24], x[:, 0, ..., 24, 24])
    torch.testing.assert_close(refined[..., 24, 24], plain[..., 24, 24])
    with pytest.raises(ValueError, match="negative"):
        EgoOptions(True, threshold=-1)


def test_fit_rejects_what_it_cannot_use():
    x = torch.rand(4, 3, 8, 8)
    with pytest.raises(ValueError, match="lambda"):
        MaskedRegression.fit_batches([(x, x)], lam=0)
    with pytest.raises(ValueError, match="colour"):
        MaskedRegression.fit_batches([(x, x)], colour="rgb")
    with pytest.raises(ValueError, match="no training pair"):
        MaskedRegression.fit_batches([])
    with pytest.raises(ValueError, match="odd"):
        ReceptiveField(4)
    model = MaskedRegression.fit_batches([(x, x)])
    with pytest.raises(ValueError, match="expects"):
        model.predict(torch.rand(1, 1, 3, 16, 16))


@pytest.fixture(scope="module")
def synthetic_prepared(tmp_path_factory):
    """Four synthetic people (neutral, happy, surprise) at 32 px: three in the train split, one in test."""
    root = tmp_path_factory.mktemp("mr")
    generate_dataset(root / "raw", n_subjects=4, expressions=("neutral", "happy", "surprise"), size=64, seed=3)
    prepare_dataset(root / "raw", root / "prepared", PrepareOptions(size=32, split_ratios=(0.75, 0.0, 0.25)))
    return root / "prepared"


def test_fit_on_a_prepared_dataset_and_every_mapping(synthetic_prepared):
    prepared = PreparedDataset(synthetic_prepared)
    model = MaskedRegression.fit(prepared, "train")  # what `facexpr benchmark` calls
    assert model.source_expressions == ("happy",) and model.target_expression == "neutral"
    assert sorted(expression_mappings(prepared, "train")) == [
        ("happy", "neutral"), ("neutral", "happy"), ("neutral", "surprise"), ("surprise", "neutral")]
    with pytest.raises(BadInputError, match="no sad -> neutral pair"):
        MaskedRegression.fit(prepared, "train", source="sad")
    with pytest.raises(BadInputError, match="lambda"):
        MaskedRegression.fit(prepared, "train", lam=-1)


def test_cli_train_mr_one_mapping_all_mappings_and_errors(synthetic_prepared, tmp_path):
    out = tmp_path / "neutralizer"
    result = runner.invoke(app, ["train", "mr", "--data", str(synthetic_prepared), "--source", "happy", "--target",
                                 "neutral", "--r", "3", "--dilation", "1", "--lambda", "0.3", "--colour", "channel",
                                 "--no-ego", "--out", str(out)])
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert isinstance(model, MaskedRegression) and model.colour == "channel" and not model.ego.enabled
    assert all((out / name).is_file() for name in INTERPRETABILITY_IMAGES)
    assert json.loads((out / "config.json").read_text())["training"]["split"] == "train"

    everything = tmp_path / "all"
    result = runner.invoke(app, ["train", "mr", "--data", str(synthetic_prepared), "--all-mappings",
                                 "--out", str(everything)])
    assert result.exit_code == 0, result.output
    folders = sorted(p.name for p in everything.iterdir())
    assert folders == ["happy-to-neutral", "neutral-to-happy", "neutral-to-surprise", "surprise-to-neutral"]
    assert load_model(everything / "neutral-to-surprise").target_expression == "surprise"

    lasso = runner.invoke(app, ["train", "mr", "--data", str(synthetic_prepared), "--source", "neutral", "--target",
                                "happy", "--method", "omp", "--nonzero", "2", "--out", str(tmp_path / "omp")])
    assert lasso.exit_code == 0, lasso.output
    assert isinstance(load_model(tmp_path / "omp"), MaskedOMP)

    for arguments, message in [
        ([], "give --source"),
        (["--source", "sad"], "no sad -> neutral pair"),
        (["--source", "happy", "--r", "4"], "--r must be a positive odd number"),
        (["--all-mappings", "--source", "happy"], "leave out --source"),
        (["--source", "happy", "--split", "val"], "no split 'val'"),
        (["--source", "happy", "--method", "svm"], "--method must be one of"),
    ]:
        failed = runner.invoke(app, ["train", "mr", "--data", str(synthetic_prepared), "--out", str(tmp_path / "x"),
                                     *arguments])
        assert failed.exit_code == 2, (arguments, failed.output)
        assert message in " ".join(failed.output.split()) and "Traceback" not in failed.output


def _scores(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[float, float, float]:
    """Mean PSNR, SSIM and sharpness ratio of uint8-rounded outputs, as `facexpr evaluate` scores them."""
    from facexpr import metrics
    from facexpr.evaluation.evaluate import to_uint8

    out, target = to_uint8(outputs), to_uint8(targets)
    return (float(np.mean(metrics.psnr(out, target))), float(np.mean(metrics.ssim(out, target))),
            float(np.mean(metrics.sharpness_ratio(out, target))))


@pytest.mark.slow
def test_frl_smiling_neutral_both_ways_beats_returning_the_input(frl_london, tmp_path):
    """The issue's bar on the subject-independent test split: the default (ego-refined) model beats the input
    on PSNR and SSIM in both directions, and is at least as sharp as the plain regression."""
    prepared_dir = tmp_path / "frl"
    prepare_dataset(frl_london, prepared_dir, PrepareOptions(size=128))
    prepared = PreparedDataset(prepared_dir, cache_size=None)
    from facexpr.models.masked_regression import training_pairs

    for source, target in (("happy", "neutral"), ("neutral", "happy")):
        test_pairs = training_pairs(prepared, source, target, "test").pairs
        inputs = torch.stack([prepared.load(s) for s, _ in test_pairs])
        targets = torch.stack([prepared.load(t) for _, t in test_pairs])
        identity = _scores(inputs, targets)
        model = MaskedRegression.fit(prepared, "train", source, target)
        refined = _scores(model.predict(inputs[:, None]), targets)
        plain = MaskedRegression(model.weights, model.field, 3, "tuple", source, target, NO_EGO)
        unrefined = _scores(plain.predict(inputs[:, None]), targets)
        assert refined[0] > identity[0] and refined[1] > identity[1], (source, target, refined, identity)
        assert refined[2] >= unrefined[2], (source, target, refined, unrefined)
