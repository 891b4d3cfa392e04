"""The geometric model: shape maps, the thin-plate-spline warp, the appearance step, fitting, saving, the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from facexpr.cli import app
from facexpr.data.pairing import PreparedDataset
from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.synthetic import (
    EXPRESSIONS,
    ActionUnits,
    face_landmarks,
    generate_dataset,
    identity_from_seed,
)
from facexpr.evaluation import evaluate
from facexpr.faces.align import (
    DEFAULT_WEIGHTS,
    alignment_points,
    similarity_transform,
    template_points,
    transform_points,
)
from facexpr.io import load_image
from facexpr.models import ConditionalModel, load_model
from facexpr.models.geometric import (
    DEFAULT_MODEL_DIR,
    GeometricModel,
    GeometricOptions,
    default_model,
    face_region_mask,
    fit_shape_map,
    implausible_reason,
    to_crop_units,
    tps_warp,
)
from facexpr.models.geometric.appearance import Appearance
from facexpr.models.geometric.model import merge_weights, expression_gate
from facexpr.models.geometric.refiner import Refiner, smooth
from facexpr.models.geometric.warp import moved_region, sampling_grid
from facexpr.models.geometric.shape import ShapeMap, soft_threshold
from facexpr.training.geometric_fit import ALPHA_GRID, choose_alpha_and_threshold, fit_geometric, is_grey
from facexpr.training.geometric_refine import fit_refiner, jittered

runner = CliRunner()
SIZE = 128


def _aligned(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks moved onto the alignment template, as ``facexpr prepare`` aligns a face."""
    matrix = similarity_transform(alignment_points(landmarks), template_points(SIZE), np.array(DEFAULT_WEIGHTS))
    return transform_points(landmarks, matrix)


def _synthetic_shapes(seeds, expression: str) -> torch.Tensor:
    """Exact aligned crop-unit landmarks of synthetic people (one per seed) showing ``expression``."""
    return to_crop_units(np.stack([
        _aligned(face_landmarks(identity_from_seed(s), EXPRESSIONS[expression], SIZE)) for s in seeds]), SIZE)


# ----------------------------------------------------------------------------- shape maps


def test_shape_map_recovers_a_known_linear_displacement():
    """Displacements that are an exact linear function of the shape are recovered on new shapes."""
    generator = torch.Generator().manual_seed(0)
    base = _synthetic_shapes([0], "neutral")[0]
    shapes = base + 0.01 * torch.randn(400, 68, 2, generator=generator)
    weight = 0.3 * torch.randn(136, 136, generator=generator) / 136 ** 0.5
    offset = 0.002 * torch.randn(136, generator=generator)
    targets = shapes + (shapes.reshape(400, -1) @ weight + offset).reshape(400, 68, 2)
    shape_map = fit_shape_map(shapes[:300], targets[:300], alpha=1e-8)
    predicted = shape_map(shapes[300:])
    assert (predicted - targets[300:]).abs().max() < 1e-4
    assert (shapes[300:] - targets[300:]).abs().max() > 1e-3  # there was something to recover


def test_soft_threshold_stills_landmark_noise_and_passes_expressions():
    """A map that drifts every face a little (as a linear map does to neutral faces) leaves them almost in place
    once thresholded, while a smile's movement passes almost whole; threshold 0 changes nothing."""
    neutral = _synthetic_shapes([0, 1], "neutral")
    drift = torch.zeros(68, 2)
    drift[:, 0] = 0.0005  # 0.06 px at 128 px: landmark noise
    drifting = ShapeMap(neutral.reshape(2, -1).mean(0), torch.zeros(136, 136), drift.reshape(-1), threshold=0.02)
    smile = _synthetic_shapes([0, 1], "happy") - neutral
    torch.testing.assert_close(soft_threshold(neutral, smile, 0.0), smile)
    assert drifting.displacement(neutral).norm() < 0.05 * drift.expand(2, -1, -1).norm()
    assert drifting.linear_displacement(neutral).norm() == pytest.approx(drift.expand(2, -1, -1).norm().item())
    assert soft_threshold(neutral, smile, 0.02).norm() > 0.9 * smile.norm()


def test_shape_threshold_is_chosen_by_cross_validation_and_saved(tmp_path):
    """Neutral faces whose reference landmarks are noisy (a linear map learns to move them) get a threshold that
    keeps them nearer their place than no threshold, chosen on held-out people; it survives saving."""
    generator = torch.Generator().manual_seed(3)
    seeds = list(range(12))
    neutral, happy = _synthetic_shapes(seeds, "neutral"), _synthetic_shapes(seeds, "happy")
    noisy = neutral + 0.004 * torch.randn(12, 68, 2, generator=generator)  # another photo's landmark noise
    sources = torch.cat([happy, noisy, neutral])
    targets = torch.cat([neutral, neutral, neutral])
    groups = seeds * 3
    alpha, threshold, table = choose_alpha_and_threshold(sources, targets, groups, None)
    assert threshold > 0 and set(table) == {f"{a:g}" for a in ALPHA_GRID}
    assert table[f"{alpha:g}"][f"{threshold:g}"] < table[f"{alpha:g}"]["0"]
    shape_map = dataclasses.replace(fit_shape_map(sources, targets, alpha), threshold=threshold)
    loaded = ShapeMap.from_tensors(shape_map.tensors("shape.neutral"), "shape.neutral")
    assert loaded.threshold == pytest.approx(threshold)
    old = {k: v for k, v in shape_map.tensors("m").items() if not k.endswith("threshold")}
    assert ShapeMap.from_tensors(old, "m").threshold == 0.0


def test_shape_map_learns_to_neutralize_synthetic_expressions_of_new_people():
    """Trained on some synthetic people's expressions -> neutral, it halves the landmark error of new people."""
    train, test = range(0, 30), range(100, 110)
    sources = torch.cat([_synthetic_shapes(train, e) for e in ("happy", "sad", "surprise", "neutral")])
    targets = torch.cat([_synthetic_shapes(train, "neutral")] * 4)
    shape_map = fit_shape_map(sources, targets, alpha=1e-3)
    for expression in ("happy", "sad", "surprise"):
        inputs, truth = _synthetic_shapes(test, expression), _synthetic_shapes(test, "neutral")
        before = (inputs - truth).norm(dim=-1).mean()
        after = (shape_map(inputs) - truth).norm(dim=-1).mean()
        assert after < 0.5 * before, expression
    neutral = _synthetic_shapes(test, "neutral")
    assert (shape_map(neutral) - neutral).norm(dim=-1).mean() < 0.002  # a neutral face stays put


def test_strength_interpolates_the_shapes():
    shapes = _synthetic_shapes([1, 2], "happy")
    shape_map = fit_shape_map(shapes, shapes + 0.01, alpha=1.0)
    torch.testing.assert_close(shape_map(shapes, 0.0), shapes)
    torch.testing.assert_close(shape_map(shapes, 0.5) - shapes, 0.5 * (shape_map(shapes) - shapes))


def test_implausible_landmarks_are_named():
    good = _synthetic_shapes([3], "neutral")[0]
    assert implausible_reason(good) is None
    assert "not finite" in implausible_reason(torch.full((68, 2), float("nan")))
    assert "template" in implausible_reason(good + 0.2)
    upside_down = good.clone()
    upside_down[:, 1] = 0.72 - upside_down[:, 1]  # eyes stay on their line, everything else flips
    assert implausible_reason(upside_down) is not None
    assert "68 landmarks" in implausible_reason(np.zeros((5, 2)))


# ----------------------------------------------------------------------------- warp


def _blobs(points: torch.Tensor, size: int, sigma: float = 1.5) -> torch.Tensor:
    """One Gaussian blob image per point, (K, 1, size, size)."""
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64), indexing="ij")
    d2 = (xs[None] - points[:, 0, None, None]).square() + (ys[None] - points[:, 1, None, None]).square()
    return torch.exp(-d2 / (2 * sigma ** 2)).float().unsqueeze(1)


def test_warp_moves_landmarks_onto_targets_within_half_a_pixel_and_pins_the_border():
    """The output reads each target landmark's pixel from its source landmark, blobs drawn at source landmarks
    land on the targets, and the crop border does not move."""
    source = torch.from_numpy(_aligned(face_landmarks(identity_from_seed(4), EXPRESSIONS["surprise"], SIZE))).float()
    target = torch.from_numpy(_aligned(face_landmarks(identity_from_seed(4), ActionUnits(), SIZE))).float()
    assert (source - target).norm(dim=1).max() > 5  # the mouth really opens
    grid = sampling_grid(source[None], target[None], SIZE)  # (1, S, S, 2), where each output pixel reads
    at_targets = torch.nn.functional.grid_sample(
        grid.permute(0, 3, 1, 2), ((2 * target + 1) / SIZE - 1)[None, None], align_corners=False)[0, :, 0].T
    read_from = (at_targets + 1) * SIZE / 2 - 0.5
    # a closed mouth's inner lips coincide: that fold cannot be inverted, so those points are left out
    distinct = [k for k in range(68) if (target - target[k]).norm(dim=1).sort().values[1] > 0.5]
    assert len(distinct) >= 60
    assert (read_from[distinct] - source[distinct]).norm(dim=1).max() < 0.5
    chosen = [8, 19, 24, 37, 44, 48, 54, 57]
    warped, travel = tps_warp(_blobs(source[chosen].double(), SIZE), source.expand(len(chosen), -1, -1),
                              target.expand(len(chosen), -1, -1))
    ys, xs = torch.meshgrid(torch.arange(SIZE, dtype=torch.float32), torch.arange(SIZE, dtype=torch.float32), indexing="ij")
    weights = warped[:, 0].clamp_min(0)
    centroids = torch.stack([(weights * xs).sum((1, 2)), (weights * ys).sum((1, 2))], dim=1) / weights.sum((1, 2))[:, None]
    assert (centroids - target[chosen]).norm(dim=1).max() < 0.5
    ring = torch.ones(SIZE, SIZE, dtype=torch.bool)
    ring[1:-1, 1:-1] = False
    assert travel[:, ring].max() < 0.05


def test_identical_landmarks_leave_the_crop_unchanged():
    generator = torch.Generator().manual_seed(1)
    image = torch.rand(1, 3, 64, 64, generator=generator)
    points = torch.rand(1, 68, 2, generator=generator) * 40 + 12
    points[0, 61] = points[0, 67]  # coinciding landmarks (a closed mouth) keep the spline well-posed
    warped, travel = tps_warp(image, points, points)
    assert travel.max() < 1e-3
    torch.testing.assert_close(warped, image, atol=2e-3, rtol=0)


def test_face_mask_covers_the_face_and_not_the_corners():
    landmarks = torch.from_numpy(face_landmarks(identity_from_seed(5), ActionUnits(), SIZE)).float()[None]
    mask = face_region_mask(landmarks, SIZE)[0, 0]
    nose = landmarks[0, 30].round().long()
    assert mask[nose[1], nose[0]] > 0.99 and mask[0, 0] == 0 and mask[-1, -1] == 0


def test_merge_prefers_the_photo_that_moved_least_and_ignores_implausible_ones():
    travel = torch.zeros(1, 3, 8, 8)
    travel[0, 0] = 4.0
    travel[0, 1, :4] = 3.0
    weights = merge_weights(travel, torch.tensor([[True, True, False]]))
    torch.testing.assert_close(weights.sum(1), torch.ones(1, 8, 8))
    assert weights[0, 2].max() == 0
    assert weights[0, 1, 6, 6] > 0.99 and weights[0, 0].max() < 0.01
    even = merge_weights(travel, torch.tensor([[False, False, False]]))
    torch.testing.assert_close(even, torch.full_like(even, 1 / 3))


# ----------------------------------------------------------------------------- fitted on synthetic faces


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """Prepared synthetic faces: 24 people, neutral/happy/sad/surprise, 128 px crops."""
    root = tmp_path_factory.mktemp("geometric")
    generate_dataset(root / "raw", n_subjects=24, expressions=("neutral", "happy", "sad", "surprise"), size=160, seed=2)
    prepare_dataset(root / "raw", root / "prepared", PrepareOptions(size=SIZE))
    return root / "prepared"


@pytest.fixture(scope="module")
def fitted(synthetic) -> GeometricModel:
    """Fitted on the synthetic people, with a refiner trained briefly (the default's 300 steps per expression
    would add a minute and test nothing more)."""
    return fit_geometric([PreparedDataset(synthetic)], "train", GeometricOptions(refine_steps=40))


def test_fitted_model_knows_every_expression_and_round_trips(fitted, synthetic, tmp_path):
    assert fitted.target_expressions == ("neutral", "happy", "sad", "surprise")
    assert sorted(fitted.refiners) == ["happy", "neutral", "sad", "surprise"]
    assert json.loads(json.dumps(fitted.config()))["refiner_expressions"] == ["happy", "neutral", "sad", "surprise"]
    assert isinstance(fitted, ConditionalModel)
    assert fitted.training["pairs"]["neutral"] > fitted.training["pairs"]["happy"] > 0
    assert set(fitted.training["cross_validation"]["neutral"]) == {f"{a:g}" for a in (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1)}
    fitted.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, GeometricModel) and loaded.target_expressions == fitted.target_expressions
    for name, saved in fitted.tensors().items():
        assert torch.equal(loaded.tensors()[name], saved), name
    data = PreparedDataset(synthetic)
    inputs = data.load(data.select("test", "happy")[0])[None, None]
    torch.testing.assert_close(loaded.predict(inputs), fitted.predict(inputs), atol=1e-4, rtol=0)
    assert json.loads((tmp_path / "m" / "config.json").read_text())["family"] == "geometric"


def test_an_appearance_step_learnt_from_grey_photos_corrects_brightness_only(synthetic, fitted, tmp_path):
    """Grey pairs (three equal channels, as Yale's beside FRL London's colour crops): a per-channel step would
    pull every channel to one grey level and turn colour faces grey; the luma step adds one correction to every
    channel, so a colour crop keeps its colour differences, and the choice survives saving."""
    torch.manual_seed(0)
    grey = torch.rand(16, 1, 16, 16).expand(-1, 3, -1, -1).contiguous()
    targets = 0.5 + 0.4 * (grey - 0.5)  # a correction that pulls each pixel towards mid-grey
    colour = torch.rand(4, 3, 16, 16)
    assert is_grey(grey).all() and not is_grey(colour).any()
    plain = Appearance.fit(grey, targets, 0.3, 0.0, "neutral")
    luma = Appearance.fit(grey, targets, 0.3, 0.0, "neutral", luma=True)

    def chroma(crops):
        return (crops[:, 0] - crops[:, 1]).abs().mean()

    assert chroma(colour + plain.correction(colour)) < 0.7 * chroma(colour)
    correction = luma.correction(colour)
    torch.testing.assert_close(correction[:, 0], correction[:, 2], atol=1e-6, rtol=0)
    torch.testing.assert_close(chroma(colour + correction), chroma(colour), atol=1e-5, rtol=0)
    model = fit_geometric([PreparedDataset(synthetic, grey=True)], "train", GeometricOptions(refine_steps=0), channels=3)
    assert model.channels == 3 and all(step.luma for step in model.appearance.values())
    model.save(tmp_path / "grey")
    loaded = load_model(tmp_path / "grey")
    assert all(step.luma for step in loaded.appearance.values())
    data = PreparedDataset(synthetic)
    inputs = data.load(data.select("test", "happy")[0])[None, None]
    torch.testing.assert_close(loaded.predict(inputs), model.predict(inputs), atol=1e-4, rtol=0)
    assert not any(step.luma for step in fitted.appearance.values())


def test_neutralizes_unseen_synthetic_people(fitted, synthetic, tmp_path):
    """On held-out people the output's landmarks are less than half as far from the true neutral as the input's
    and closer than the average neutral face's, the FER judge finds it more neutral than the input, and it stays
    sharp and the same person (which mean-neutral does not)."""
    fitted.save(tmp_path / "m")
    result = evaluate(str(tmp_path / "m"), synthetic, "test", tmp_path / "eval")
    model, identity, mean = (run.summary for run in result.runs)
    assert model["landmark_error"] < 0.5 * identity["landmark_error"]
    assert model["landmark_error"] < mean["landmark_error"]
    assert model["p_neutral"] > identity["p_neutral"] + 0.1
    assert model["psnr"] > mean["psnr"] + 5 and model["ssim"] > mean["ssim"]
    assert model["sharpness"] > 0.8 and model["id_rank1"] == 1.0 > mean["id_rank1"]
    stay = result.document["neutral_inputs"]  # the same people's neutral faces stay neutral
    ours, unchanged, average = (stay[run.name] for run in result.runs)
    assert unchanged["landmark_shift"] == 0 and unchanged["p_neutral_change"] == 0 and unchanged["sharpness"] == 1
    assert ours["n"] == unchanged["n"] >= 3
    assert ours["landmark_shift"] < 0.03 < average["landmark_shift"]  # FRL below holds it to the 0.02
    assert abs(ours["p_neutral_change"]) < 0.05 and ours["sharpness"] > 0.85


def test_strength_zero_returns_the_input_and_targets_change_the_output(fitted, synthetic):
    data = PreparedDataset(synthetic)
    neutral = data.load(data.select("test", "neutral")[0])[None, None]
    for target in ("neutral", "happy"):
        torch.testing.assert_close(fitted.predict(neutral, target=target, strength=0.0), neutral[:, 0], atol=1e-3, rtol=0)
    half, happy = (fitted.explain(neutral, target="happy", strength=s) for s in (0.5, 1.0))
    found = half["landmarks"][:, 0]
    torch.testing.assert_close(half["goal"] - found, 0.5 * (happy["goal"] - found), atol=1e-3, rtol=0)
    assert (happy["goal"] - found).norm(dim=-1).max() > 2  # the mouth corners move by pixels
    assert (happy["output"] - neutral[:, 0]).abs().mean() > (half["output"] - neutral[:, 0]).abs().mean() > 0.002
    assert fitted.for_target("surprise").target_expression == "surprise"
    with pytest.raises(ValueError, match=r"cannot produce 'angry' \(it knows: neutral, happy, sad, surprise\)"):
        fitted.predict(neutral, target="angry")


def test_several_photos_give_one_face_and_implausible_crops_are_left_alone(fitted, synthetic):
    data = PreparedDataset(synthetic)
    photos = torch.stack([data.load(r) for r in data.select("test") if r.subject == data.select("test")[0].subject])
    explained = fitted.explain(photos[None])
    assert explained["output"].shape == (1, 3, SIZE, SIZE) and explained["plausible"].all()
    blank = torch.full((1, 1, 3, SIZE, SIZE), 0.5)
    torch.testing.assert_close(fitted.predict(blank), blank[:, 0])


def test_fit_skips_crops_with_implausible_landmarks(synthetic, tmp_path):
    """A blank crop listed in the manifest is skipped with its reason; the fit still works."""
    from PIL import Image

    data = PreparedDataset(synthetic)
    manifest = (synthetic / "manifest.csv").read_text().splitlines()
    first = data.select("train", "happy")[0]
    Image.fromarray(np.full((SIZE, SIZE, 3), 128, np.uint8)).save(tmp_path / "blank.png")
    copy = tmp_path / "prepared"
    copy.mkdir()
    line = next(row for row in manifest if row.startswith(first.path + ","))
    rows = [manifest[0], *(r.replace(r.split(",")[0], str(synthetic / r.split(",")[0]), 1) for r in manifest[1:]),
            line.replace(first.path, str(tmp_path / "blank.png"), 1)]
    (copy / "manifest.csv").write_text("\n".join(rows) + "\n")
    model = fit_geometric([PreparedDataset(copy)], "train", GeometricOptions(appearance=False, refine_steps=0),
                          cross_validate=False)
    assert len(model.training["skipped"]) == 1 and "blank.png" in model.training["skipped"][0]
    assert not model.appearance


# ----------------------------------------------------------------------------- the refiner


def test_an_untrained_refiner_changes_nothing_and_a_trained_one_only_brightness_inside_the_mask():
    torch.manual_seed(0)
    crops = torch.rand(4, 3, 64, 64) * 0.8 + 0.1
    masks = torch.zeros(4, 1, 64, 64)
    masks[..., 16:48, 16:48] = 1.0
    torch.testing.assert_close(Refiner(1.5)(crops, masks), crops, atol=1e-7, rtol=0)
    refiner = Refiner(1.5)
    torch.nn.init.normal_(refiner.net.head.weight, std=0.1)
    out = refiner.eval()(crops, masks)
    change = out - crops
    assert change[..., 16:48, 16:48].abs().mean() > 1e-3
    assert torch.equal(out[masks.expand_as(out) == 0], crops[masks.expand_as(out) == 0])
    torch.testing.assert_close(change[:, 0], change[:, 2], atol=1e-6, rtol=0)
    torch.testing.assert_close(refiner(crops, masks, amount=0.0), crops)


@pytest.mark.parametrize("ssim_weight", [0.0, 1.0])
def test_the_refiner_learns_a_smooth_change_of_brightness_it_was_shown(ssim_weight):
    """Targets darker inside a soft disc (as lips that close darken the mouth): after training on half the crops
    the refiner's outputs on the other half are much nearer their targets than the unrefined crops are, with or
    without the SSIM term."""
    torch.manual_seed(0)
    crops = torch.rand(32, 3, 64, 64) * 0.2 + 0.5
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    shade = torch.exp(-((yy - 40) ** 2 + (xx - 32) ** 2) / 120.0)
    targets = crops - 0.2 * shade
    masks = torch.ones(32, 1, 64, 64)
    refiner = fit_refiner(crops[:16], masks[:16], torch.ones(16), targets[:16], steps=150, judge_weight=0.03, sigma=1.0,
                          ssim_weight=ssim_weight)
    before = (crops[16:] - targets[16:]).abs().mean()
    after = (refiner(crops[16:], masks[16:]) - targets[16:]).abs().mean()
    assert after < 0.7 * before


def test_the_refiners_fast_smoothing_at_use_matches_the_differentiable_one_it_trained_with():
    torch.manual_seed(0)
    images = torch.rand(2, 1, 64, 64)
    trained = smooth(images.clone().requires_grad_(True), 3.0).detach()
    with torch.no_grad():
        torch.testing.assert_close(smooth(images, 3.0), trained, atol=1e-4, rtol=0)


def test_the_appearance_step_and_refiner_go_to_faces_the_expression_moved():
    shapes = _synthetic_shapes([1, 2], "neutral")
    smiles = _synthetic_shapes([1, 2], "happy")
    assert expression_gate(shapes, shapes).abs().max() < 1e-6
    assert (expression_gate(smiles, shapes) > 0.9).all()


def test_the_refiner_works_only_where_the_warp_moved_the_face(fitted, synthetic):
    travel = torch.tensor([[[0.0, 0.5, 2.0, 8.0]]])
    weights = moved_region(travel, 2.0)[0, 0, 0]
    assert weights[0] == 0 and weights[1] < 0.1 and abs(float(weights[2]) - (1 - np.exp(-1))) < 1e-6 and weights[3] > 0.99
    torch.testing.assert_close(moved_region(travel, 0.0), torch.ones(1, 1, 1, 4))
    dataset = PreparedDataset(synthetic)
    smiles = [r for r in dataset.select("test") if r.expression == "happy"][:2]
    crops = torch.stack([dataset.load(r) for r in smiles]).unsqueeze(1)
    explained = fitted.explain(crops)
    mask, refine_mask = explained["mask"], explained["refine_mask"]
    assert (refine_mask <= mask + 1e-6).all()
    assert refine_mask.sum() < 0.8 * mask.sum()  # the forehead and nose did not move
    still = explained["travel"] < 0.1
    assert refine_mask[:, 0][still].max() < 0.01


def test_the_appearance_step_corrects_each_crop_by_its_own_amount():
    """A per-crop amount (the expression gate): 0 leaves a crop exactly as warped, 1 applies the full correction."""
    torch.manual_seed(0)
    warped = torch.rand(4, 3, 32, 32) * 0.5 + 0.25
    step = Appearance.fit(warped, (warped + 0.1).clamp(0, 1), 0.3, 0.0, "neutral")
    mask = torch.ones(4, 1, 32, 32)
    out = step(warped, mask, torch.tensor([0.0, 1.0, 0.0, 1.0]))
    torch.testing.assert_close(out[[0, 2]], warped[[0, 2]])
    torch.testing.assert_close(out[[1, 3]], step(warped, mask, 1.0)[[1, 3]])
    assert (out[[1, 3]] - warped[[1, 3]]).mean() > 0.05


def test_the_judge_sees_jittered_views_that_keep_gradients():
    images = torch.rand(3, 1, 32, 32, requires_grad=True)
    views = jittered(images, torch.Generator().manual_seed(0))
    assert views.shape == images.shape
    views.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_a_model_saved_before_the_refiner_existed_loads_without_one(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    for key in ("refine_steps", "refine_judge", "refine_smoothing"):
        del config["options"][key]
    del config["refiner_expressions"]
    tensors = {k: v for k, v in fitted.tensors().items() if not k.startswith("refiner.")}
    old = GeometricModel.from_saved(config, tensors)
    assert old.refiners == {} and old.target_expressions == fitted.target_expressions


def test_a_model_saved_before_the_refiners_region_existed_refines_the_whole_face_as_it_did(fitted, tmp_path):
    config = json.loads(json.dumps(fitted.config()))
    del config["options"]["refine_travel"]
    assert GeometricModel.from_saved(config, fitted.tensors()).options.refine_travel == 0
    assert GeometricOptions().refine_travel > 0


# ----------------------------------------------------------------------------- the shipped model and the CLI


def test_shipped_model_is_small_and_neutralizes_a_photo_with_no_model_option(tmp_path):
    files = sorted(p.name for p in DEFAULT_MODEL_DIR.iterdir())
    assert files == ["README.md", "config.json", "weights.safetensors"]
    assert sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir()) < 5_000_000
    assert "CC BY 4.0" in (DEFAULT_MODEL_DIR / "README.md").read_text()
    model = default_model()
    assert model.size == 128 and "happy" in model.target_expressions
    assert not any("yale" in str(d).lower() for d in model.training["data"])
    photo = generate_dataset(tmp_path / "raw", n_subjects=1, expressions=("happy",), size=200, seed=9)[0]
    result = runner.invoke(app, ["neutralize", str(photo), "--out", str(tmp_path / "out"), "--paste"])
    assert result.exit_code == 0, result.output
    assert load_image(tmp_path / "out" / "1_neutral.png").shape == (128, 128, 3)
    assert load_image(tmp_path / "out" / "1_neutral_pasted.png").shape == (200, 200, 3)
    result = runner.invoke(app, ["synthesize", str(photo), "--target", "happy", "--strength", "0.5",
                                 "--out", str(tmp_path / "syn")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "syn" / "1_happy.png").is_file()


def test_to_cpu_round_trips_and_outputs_follow_the_inputs():
    """The geometric model computes on the CPU (dlib, OpenCV); ``to`` records the device and keeps its default."""
    model = default_model()
    blank = torch.full((1, 1, 3, 128, 128), 0.5)
    assert model.to("cpu") is model and model.device == torch.device("cpu")
    assert model.predict(blank.to(model.device)).device == model.device
    assert model.for_target("happy").device == model.device


def test_train_geometric_command_and_one_line_errors(synthetic, tmp_path):
    out = tmp_path / "model"
    result = runner.invoke(app, ["train", "geometric", "--data", str(synthetic), "--out", str(out), "--alpha", "0.01",
                                 "--no-cross-validate", "--refine-steps", "0"])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["alpha"] == 0.01 and config["training"]["cross_validation"] == {}
    assert config["refiner_expressions"] == [] and config["training"]["refiner"].startswith("none")
    result = runner.invoke(app, ["train", "geometric", "--data", str(synthetic), "--out", str(tmp_path / "x"),
                                 "--split", "nope"])
    assert result.exit_code == 2 and "no split 'nope'" in result.output and not (tmp_path / "x").exists()
    photo = next((synthetic / "crops").rglob("*.png"))
    result = runner.invoke(app, ["synthesize", str(photo), "--model", str(out), "--target", "angry",
                                 "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "cannot synthesize to 'angry'" in result.output
    assert not (tmp_path / "o").exists()


def test_models_that_cannot_do_what_is_asked_are_refused_in_one_line(synthetic, tmp_path):
    """One-expression models of other families: masked regression dials --strength (a straight line from the
    input) but does not synthesize; a VAE has no strength to dial."""
    from facexpr.models.masked_regression import MaskedRegression
    from facexpr.models.vae import VAEConfig, VAEModel

    MaskedRegression.fit(PreparedDataset(synthetic), "train", "happy", "neutral").save(tmp_path / "mr")
    VAEModel(VAEConfig.from_preset("cpu", size=32, width=0.0625)).save(tmp_path / "vae")
    photo = next((synthetic / "crops").rglob("*.png"))
    for command, model, extra, message in (
        ("neutralize", "vae", ["--strength", "0.5"], "produces neutral at full strength only, not at strength 0.5"),
        ("synthesize", "mr", [], "is a neutralize model"),
        ("synthesize", "mr", ["--target", "happy"], "is a neutralize model"),
    ):
        result = runner.invoke(app, [command, str(photo), "--model", str(tmp_path / model), *extra,
                                     "--out", str(tmp_path / command)])
        assert result.exit_code == 2 and message in result.output, result.output
        assert result.output.strip().count("\n") == 0 and not (tmp_path / command).exists()
    result = runner.invoke(app, ["neutralize", str(photo), "--model", str(tmp_path / "mr"), "--strength", "0.5",
                                 "--out", str(tmp_path / "half")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "half").glob("*_neutral.png"))) == 1


# ----------------------------------------------------------------------------- real faces


def test_beats_identity_on_frl_london_test_people(frl_london, tmp_path):
    """Trained on FRL's train split, on its test people it moves the landmarks towards the true neutral
    and makes the face look more neutral to the FER judge than returning the input."""
    prepared = tmp_path / "frl"
    prepare_dataset(frl_london, prepared, PrepareOptions(size=SIZE))
    model = fit_geometric([PreparedDataset(prepared)], "train")
    model.save(tmp_path / "m")
    result = evaluate(str(tmp_path / "m"), prepared, "test", tmp_path / "eval")
    ours, identity = result.runs[0].summary, result.runs[1].summary
    assert ours["landmark_error"] < 0.8 * identity["landmark_error"]
    assert ours["p_neutral"] > identity["p_neutral"] + 0.03
    assert ours["psnr"] > identity["psnr"] and ours["ssim"] > identity["ssim"]
    assert ours["sharpness"] > 0.8 and ours["id_rank1"] >= 0.9
    stay = result.document["neutral_inputs"][result.runs[0].name]  # the test people's neutral faces stay neutral
    assert stay["landmark_shift"] <= 0.02 and abs(stay["p_neutral_change"]) <= 0.05 and stay["sharpness"] >= 0.85


def test_cross_validation_scores_every_person_once_with_a_model_that_never_saw_them(synthetic, tmp_path):
    from facexpr.experiments import cross_validate_geometric
    from facexpr.experiments.crossval import fold_people

    people = [(s, str(i)) for s in "ab" for i in range(5)]
    dealt = fold_people(people, 3)
    assert sorted(p for fold in dealt for p in fold) == sorted(people) and {len(f) for f in dealt} == {3, 4}
    result = cross_validate_geometric(synthetic, tmp_path / "cv", folds=3,
                                     options=GeometricOptions(appearance=False, refine_steps=0))
    document = result.document
    data = PreparedDataset(synthetic)
    expressive = [r for r in data.records if not r.is_neutral]
    assert document["items"] == len(expressive) and document["people"] == 24
    for k in range(3):
        fold = PreparedDataset(tmp_path / "cv" / f"fold{k}")
        held_out, trained = {r.key() for r in fold.select("test")}, {r.key() for r in fold.select("train")}
        assert held_out and held_out.isdisjoint(trained) and len(held_out | trained) == 24
        config = json.loads((tmp_path / "cv" / f"fold{k}" / "model" / "config.json").read_text())
        assert config["training"]["people"] == len(trained)
    ours, identity = document["metrics"]["model"], document["metrics"]["identity"]
    assert ours["landmark_error"] < 0.6 * identity["landmark_error"]
    assert document["neutral_inputs"]["model"]["n"] == 24
    assert (tmp_path / "cv" / "crossval.md").read_text().count("| landmark_error |") == 1


def test_paste_warp_moves_the_photo_at_full_resolution_and_nothing_outside_the_crop():
    """An identity warp with no correction returns the photo; a one-crop-pixel shift moves the face by the
    photo's pixels per crop pixel; a correction changes intensity; pixels outside the crop never change."""
    from facexpr.faces import paste_warp
    from facexpr.models.geometric.warp import identity_grid

    generator = np.random.default_rng(0)
    photo = cv2_blur(generator.integers(0, 256, (300, 400, 3)).astype(np.uint8))
    size = 64
    matrix = np.array([[0.5, 0.0, -50.0], [0.0, 0.5, -40.0]])  # photo -> crop: the crop is photo[80:208, 100:228]
    grid = identity_grid(size)[0].numpy()
    same = paste_warp(photo, matrix, grid)
    assert np.abs(same.astype(int) - photo).max() <= 1
    shifted = grid.copy()
    shifted[..., 0] += 2.0 / size  # every crop pixel reads one crop pixel (two photo pixels) to its right
    moved = paste_warp(photo, matrix, shifted)
    assert np.abs(moved[120:170, 130:200].astype(int) - photo[120:170, 132:202]).mean() < 2
    brighter = paste_warp(photo, matrix, grid, np.full((size, size, 3), 10 / 255, np.float32))
    assert abs(float(brighter[120:170, 130:200].astype(int).mean() - photo[120:170, 130:200].mean()) - 10) < 1
    outside = np.ones(photo.shape[:2], bool)
    outside[76:212, 96:232] = False
    assert np.array_equal(moved[outside], photo[outside]) and np.array_equal(brighter[outside], photo[outside])


def cv2_blur(image: np.ndarray) -> np.ndarray:
    """A smooth test photo (interpolation of white noise is not a fair test)."""
    import cv2

    return cv2.GaussianBlur(image, (0, 0), 3)


def test_several_photos_of_a_person_beat_one_photo(fitted, synthetic, tmp_path):
    """Happy, sad and surprise photos of each held-out person given together give a face closer to the true
    neutral (PSNR, SSIM) and more neutral to the judge than one photo at a time, on average, and stay sharp."""
    fitted.save(tmp_path / "m")
    one = evaluate(str(tmp_path / "m"), synthetic, "test", tmp_path / "one", shots=1).runs[0].summary
    three = evaluate(str(tmp_path / "m"), synthetic, "test", tmp_path / "three", shots=3)
    together = three.runs[0].summary
    assert all(len(item.inputs) == 3 for item in three.items)
    assert together["psnr"] > one["psnr"] + 1 and together["ssim"] > one["ssim"]
    assert together["p_neutral"] > one["p_neutral"] and together["sharpness"] > 0.8
