"""NFGAN (issue 11): config and presets, each loss of Algorithm 1 on hand-made inputs, which networks each loss
reaches, a short training on synthetic faces against mean-neutral, the saved folder, and a killed run resuming."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from facexpr.data.pairing import PreparedDataset
from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.synthetic import generate_dataset
from facexpr.io import BadInputError, save_tensors_atomic
from facexpr.models.base import load_model
from facexpr.models.baselines import MeanFaceModel
from facexpr.models.geometric import default_model
from facexpr.models.nfgan import NFGANConfig, NFGANModel, NFGANRefiner, warp_base
from facexpr.models.vae.latent import LatentSpace
from facexpr.nn.feature_net import load_feature_net
from facexpr.training import TrainOptions
from facexpr.training.data import PairedDataModule
from facexpr.training.nfgan import NFGANMethod, train_nfgan
from facexpr.training.nfgan_losses import (
    FaceJudges,
    feature_loss,
    identity_loss,
    symmetry_loss,
)

#: The tiny networks of these tests: 32 px, narrow layers, a 32-number code.
TINY = {"size": 32, "width": 8, "fc": 64, "latent": 32, "decoder_width": 64, "critic_width": 8}
GENERATOR_TERMS = ("feat", "adversarial", "identity", "pixel", "symmetry")


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """16 synthetic people (12 train, 4 val), neutral / happy / surprise, 32 px crops."""
    root = tmp_path_factory.mktemp("nfgan")
    generate_dataset(root / "raw", n_subjects=16, expressions=("neutral", "happy", "surprise"), size=96, seed=5)
    prepare_dataset(root / "raw", root / "prepared", PrepareOptions(size=32, split_ratios=(0.75, 0.25, 0.0)))
    return root / "prepared"


def _options(epochs: int, **changes) -> TrainOptions:
    return TrainOptions(**{"epochs": epochs, "batch_size": 8, "progress": False, "logs": False, "patience": 50,
                           "departure": 0.0, "augment": False, **changes})


@pytest.fixture(scope="module")
def trained(faces, tmp_path_factory):
    """The cpu preset's losses and weights on tiny networks, 10 epochs of 8 batches (180 steps of both players)."""
    out = tmp_path_factory.mktemp("nfgan_run") / "model"
    return train_nfgan(faces, out, config=NFGANConfig.from_preset(**TINY),
                       options=_options(10, min_epoch_items=64, lr=3e-3))


@pytest.fixture(scope="module")
def judges() -> FaceJudges:
    return FaceJudges(torch.device("cpu"))


def _held_out(faces: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The validation people's (B, 1, C, S, S) expressive crops and (B, C, S, S) neutral targets."""
    val = PairedDataModule(faces).val_set
    inputs = torch.stack([val[i]["input"] for i in range(len(val))]).unsqueeze(1)
    return inputs, torch.stack([val[i]["target"] for i in range(len(val))])


def _psnr(output: torch.Tensor, target: torch.Tensor) -> float:
    return float((10 * torch.log10(1 / (output - target).pow(2).flatten(1).mean(1))).mean())


# ------------------------------------------------------------------ config and model


def test_presets_and_json_round_trip():
    paper = NFGANConfig.from_preset("paper")
    assert (paper.size, paper.grey, paper.width, paper.fc, paper.latent, paper.decoder_width) == \
        (64, True, 32, 512, 256, 512)
    assert (paper.eta, paper.lambda_id, paper.lambda_pixel, paper.lambda_sym) == (0.1, 3e-3, 1e-3, 0.3)
    cpu = NFGANConfig.from_preset()
    assert cpu == NFGANConfig() and (cpu.grey, cpu.lambda_pixel, cpu.eta) == (False, 10.0, 0.1)
    assert NFGANConfig.from_preset("paper", lambda_pixel=None, eta=0.0).eta == 0.0
    assert NFGANConfig.from_dict({**paper.to_dict(), "unknown": 1}) == paper
    with pytest.raises(ValueError, match="unknown preset"):
        NFGANConfig.from_preset("gpu")
    with pytest.raises(ValueError, match="multiple of 16"):
        NFGANConfig(size=40)
    with pytest.raises(ValueError, match="must not be negative"):
        NFGANConfig(lambda_sym=-1)


def test_grey_model_reads_colour_and_strength_dials_from_the_input():
    torch.manual_seed(0)
    model = NFGANModel(NFGANConfig.from_preset("paper", **TINY), channels=3)
    inputs = torch.rand(2, 2, 3, 48, 48)  # resized to 32 px; the first photo only
    out = model.predict(inputs)
    assert out.shape == (2, 3, 32, 32) and torch.equal(out[:, 0], out[:, 2])  # grey repeated to RGB
    assert torch.allclose(model.predict(inputs, strength=0.0), torch.nn.functional.interpolate(
        inputs[:, 0], size=32, mode="bilinear", antialias=True).clamp(0, 1), atol=1e-6)
    with pytest.raises(ValueError, match="cannot produce 'happy'"):
        model.predict(inputs, "happy")


# ------------------------------------------------------------------ losses on hand-made inputs


def test_symmetry_loss_is_zero_for_a_mirror_symmetric_image_only():
    torch.manual_seed(0)
    image = torch.rand(2, 3, 32, 32)
    symmetric = (image + image.flip(-1)) / 2
    assert float(symmetry_loss(symmetric)) < 1e-7
    assert float(symmetry_loss(image)) > 0.05
    # a left-right brightness ramp has no Laplacian inside the image: lighting is not asymmetry
    ramp = torch.linspace(0, 1, 32).expand(1, 1, 32, 32).contiguous()
    assert float(symmetry_loss(ramp)) < 0.01 * float(symmetry_loss(image))


def test_identical_images_have_zero_feature_and_identity_loss(judges, faces):
    inputs, targets = _held_out(faces)
    features, descriptors = judges.features(targets, descriptor=True)
    again, described = judges.features(targets.clone(), descriptor=True)
    assert float(feature_loss(features, again)) == pytest.approx(0.0, abs=1e-10)
    assert float(identity_loss(descriptors, described)) == pytest.approx(0.0, abs=1e-10)
    assert torch.allclose(judges.descriptors(targets), descriptors, atol=1e-4)  # one chip, one descriptor
    other, other_descriptors = judges.features(inputs[:, 0], descriptor=True)
    assert float(feature_loss(features, other)) > 1e-3
    assert float(identity_loss(descriptors, other_descriptors)) > 1e-3


def test_adversarial_and_symmetry_losses_never_reach_the_encoder():
    torch.manual_seed(0)
    method = NFGANMethod(NFGANConfig.from_preset(**TINY))
    batch = {"input": torch.rand(4, 3, 32, 32), "target": torch.rand(4, 3, 32, 32)}
    outputs = method.run(batch)
    terms = method.losses("generator", outputs)
    assert set(terms) == set(GENERATOR_TERMS)

    def grads(term: str) -> tuple[float, float]:
        method.zero_grad(set_to_none=True)
        terms[term].backward(retain_graph=True)
        norm = lambda net: sum(float(p.grad.abs().sum()) for p in net.parameters() if p.grad is not None)  # noqa: E731
        return norm(method.net.encoder), norm(method.net.decoder)

    for term in ("adversarial", "symmetry"):
        encoder, decoder = grads(term)
        assert encoder == 0.0 and decoder > 0, term
    for term in ("feat", "identity", "pixel"):
        encoder, decoder = grads(term)
        assert encoder > 0 and decoder > 0, term


def test_the_discriminator_learns_from_its_own_loss_only():
    torch.manual_seed(0)
    method = NFGANMethod(NFGANConfig.from_preset(**TINY))
    outputs = method.run({"input": torch.rand(4, 3, 32, 32), "target": torch.rand(4, 3, 32, 32)})
    terms = method.losses("discriminator", outputs)
    assert {"real", "fake", "critic_real", "critic_fake"} == set(terms)
    (terms["real"] + terms["fake"]).backward()
    assert all(p.grad is None for p in method.net.parameters())
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in method.critic.parameters())
    assert {id(p) for p in method.parameters_of("discriminator")} == {id(p) for p in method.critic.parameters()}
    assert not any("judge" in key for key in method.state_dict())


def _feature_file(path: Path, **metadata: str) -> Path:
    """A three-layer feature network (3 -> 4 -> 6 -> 5 channels) in the --perceptual-net format."""
    torch.manual_seed(0)
    tensors = {}
    for i, (cin, cout) in enumerate(((3, 4), (4, 6), (6, 5))):
        tensors[f"layers.{i}.weight"], tensors[f"layers.{i}.bias"] = torch.randn(cout, cin, 3, 3), torch.zeros(cout)
    meta = {"features": "1,2", "pool_after": "0", "input_size": "24", "channels": "rgb", "scale": "255",
            "mean": "120,110,100", **metadata}
    save_tensors_atomic(path, tensors, {k: v for k, v in meta.items() if v is not None})
    return path


def test_a_user_feature_network_replaces_the_judges_perceptual_features(tmp_path, faces):
    net = load_feature_net(_feature_file(tmp_path / "net.safetensors"))
    assert not any(p.requires_grad for p in net.parameters())
    _, targets = _held_out(faces)
    maps = net(targets)
    assert [tuple(m.shape[1:]) for m in maps] == [(6, 12, 12), (5, 12, 12)]  # pooled once after layer 0
    assert float(feature_loss(maps, net(targets.clone()))) == 0.0
    bgr = load_feature_net(_feature_file(tmp_path / "bgr.safetensors", channels="bgr"))
    assert torch.allclose(bgr(targets.flip(1))[1], maps[1], atol=1e-4)
    config = NFGANConfig.from_preset(perceptual_net=str(tmp_path / "net.safetensors"), **TINY)
    method = NFGANMethod(config)
    outputs = method.run({"input": targets, "target": targets})
    judges = method.judges(torch.device("cpu"))
    assert judges.perceptual is not None and len(judges.features(targets)[0]) == 2
    method.losses("generator", outputs)["feat"].backward()
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in method.net.encoder.parameters())
    with pytest.raises(BadInputError, match="metadata lacks features"):
        load_feature_net(_feature_file(tmp_path / "bare.safetensors", features=None))
    with pytest.raises(BadInputError, match="not a usable feature network"):
        load_feature_net(_feature_file(tmp_path / "deep.safetensors", features="1,7"))
    with pytest.raises(BadInputError, match="not a readable safetensors"):
        load_feature_net(tmp_path / "missing.safetensors")


# ------------------------------------------------------------------ training


def test_a_short_training_beats_mean_neutral_on_held_out_people(trained, faces):
    """Held-out PSNR against the average neutral face of the training people (19.3 vs 16.9 dB when written;
    with the paper's lambda_pixel 1e-3 this tiny run stays below it: see NFGANConfig's presets)."""
    inputs, targets = _held_out(faces)
    mean_neutral = MeanFaceModel.fit(PreparedDataset(faces), "train")
    ours, baseline = _psnr(trained.model.predict(inputs), targets), _psnr(mean_neutral.predict(inputs), targets)
    assert ours > baseline + 1.0, (ours, baseline)
    for term in GENERATOR_TERMS:
        assert f"train/{term}" in trained.summary["final"] and f"val/{term}" in trained.summary["final"], term
    for term in ("real", "fake", "critic_real", "critic_fake"):
        assert f"train/discriminator_{term}" in trained.summary["final"], term
    assert trained.summary["weights"]["pixel"] == 10.0


def test_the_model_folder_loads_without_code_execution(trained, faces, tmp_path):
    """config.json and weights.safetensors alone (no pickle, no checkpoint) rebuild the same model."""
    folder = tmp_path / "copied"
    folder.mkdir()
    for name in ("config.json", "weights.safetensors"):
        shutil.copy(trained.out_dir / name, folder / name)
    loaded = load_model(folder)
    assert isinstance(loaded, NFGANModel) and loaded.nfgan_config == trained.model.nfgan_config
    inputs, _ = _held_out(faces)
    assert torch.allclose(loaded.predict(inputs), trained.model.predict(inputs), atol=1e-6)


def test_latent_traversal_runs_from_one_code_to_the_other(trained, faces):
    """The paper's Fig. 7 through facexpr's latent space: the ends are the model's own outputs."""
    inputs, _ = _held_out(faces)
    line = LatentSpace(trained.model).interpolate(inputs[0, 0], inputs[1, 0], 5)
    ends = trained.model.predict(inputs[:2])
    assert line.shape == (5, 3, 32, 32)
    assert torch.allclose(line[0], ends[0], atol=1e-5) and torch.allclose(line[-1], ends[1], atol=1e-5)
    warp = NFGANModel(NFGANConfig.from_preset(on_warp=True, **TINY), 3, geometric=default_model())
    with pytest.raises(ValueError, match="no latent code"):
        warp.encode(inputs[:, 0])


def test_a_run_killed_mid_epoch_resumes_from_its_last_checkpoint(faces, tmp_path, interrupt_at):
    """Two optimizer steps per batch (discriminator, generator): killed after 2 batches, the same call resumes
    from there to the planned end; the finished folder is then refused."""
    out = tmp_path / "killed"
    config = NFGANConfig.from_preset(**TINY)
    run = _options(2, min_epoch_items=0, checkpoint_every=1)
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        train_nfgan(faces, out, config=config, options=run, callbacks=(interrupt_at(4),))
    assert (out / "checkpoints" / "last.ckpt").is_file() and not (out / "summary.json").exists()
    result = train_nfgan(faces, out, config=config, options=run)
    batches = len(PairedDataModule(faces, batch_size=8).train_dataloader())
    assert result.summary["resumed_from_step"] == 4 and result.summary["global_step"] == 2 * 2 * batches
    with pytest.raises(BadInputError, match="already holds a trained model"):
        train_nfgan(faces, out, config=config, options=run)


def test_init_starts_from_a_pretrained_model_with_the_same_networks(trained, faces, tmp_path):
    """--init: the run starts from the given model's weights (no step taken: the export is that model)."""
    config = NFGANConfig.from_preset(init=str(trained.out_dir), **TINY)
    started = train_nfgan(faces, tmp_path / "init", config=config, options=_options(1, max_steps=0))
    inputs, _ = _held_out(faces)
    assert torch.allclose(started.model.predict(inputs), trained.model.predict(inputs), atol=1e-6)
    other = NFGANConfig.from_preset(init=str(trained.out_dir), **{**TINY, "latent": 16})
    with pytest.raises(BadInputError, match="networks differ"):
        train_nfgan(faces, tmp_path / "other", config=other, options=_options(1, max_steps=0))


# ------------------------------------------------------------------ on warp (ours)


def test_on_warp_starts_as_the_geometric_model_and_changes_only_inside_its_face_mask(faces):
    inputs, _ = _held_out(faces)
    geometric = default_model()
    base, mask = warp_base(geometric, inputs[:, 0], 32)
    assert base.shape == (len(inputs), 3, 32, 32) and mask.shape == (len(inputs), 1, 32, 32)
    assert float(mask.amax()) > 0.9 and float(mask.amin()) == 0.0
    config = NFGANConfig.from_preset(on_warp=True, **TINY)
    untrained = NFGANModel(config, 3, geometric=geometric)
    assert untrained.name == "nfgan-cpu-on-warp"
    assert torch.allclose(untrained.predict(inputs), base.clamp(0, 1), atol=1e-6)  # the residual starts at zero
    torch.manual_seed(0)
    refiner = NFGANRefiner(config)
    torch.nn.init.normal_(refiner.unet.head.weight, std=0.1)
    refined = refiner.eval()(base, mask)
    outside = (mask == 0).expand_as(base)
    assert torch.equal(refined[outside], base[outside]) and not torch.allclose(refined, base, atol=1e-3)
    with pytest.raises(ValueError, match="needs the geometric model"):
        NFGANModel(config, 3)


def test_on_warp_training_keeps_the_geometric_model_inside_its_folder(faces, tmp_path):
    config = NFGANConfig.from_preset(on_warp=True, **TINY)
    result = train_nfgan(faces, tmp_path / "warp", config=config, options=_options(1, min_epoch_items=0))
    for term in GENERATOR_TERMS:
        assert f"train/{term}" in result.summary["final"], term
    folder = tmp_path / "copied"
    folder.mkdir()
    for name in ("config.json", "weights.safetensors"):
        shutil.copy(result.out_dir / name, folder / name)
    loaded = load_model(folder)
    assert isinstance(loaded, NFGANModel) and loaded.geometric is not None
    inputs, _ = _held_out(faces)
    assert torch.allclose(loaded.predict(inputs), result.model.predict(inputs), atol=1e-5)


def test_train_nfgan_help_lists_the_loss_weights():
    from facexpr.cli import app

    result = CliRunner().invoke(app, ["train", "nfgan", "--help"], env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"})
    assert result.exit_code == 0, result.output
    for flag in ("--preset", "--eta", "--lambda-id", "--lambda-pixel", "--lambda-sym", "--feat", "--grey",
                 "--latent", "--on-warp", "--warp-model", "--perceptual-net", "--init", "--epochs"):
        assert flag in result.output, flag
