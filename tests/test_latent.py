"""Latent-space tools: prior samples, noise check, reconstructions, interpolation, t-SNE; the sample/tsne commands."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from facexpr.cli import app
from facexpr.data.pairing import PreparedDataset
from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.synthetic import generate_dataset
from facexpr.io import BadInputError, load_image, write_image_atomic
from facexpr.models.neutralizer import NeutralizerConfig, NeutralizerModel
from facexpr.models.vae import VAEConfig, VAEModel
from facexpr.models.vae.latent import (
    TSNE_COLUMNS,
    LatentSpace,
    load_face,
    pick_records,
    sample_from_noise,
    sample_prior,
    write_tsne,
)

runner = CliRunner()
SIZE = 32


def tiny_config() -> VAEConfig:
    """The smallest useful network: CPU preset at 32 px and 1/16 width."""
    return VAEConfig.from_preset("cpu", size=SIZE, width=0.0625)


@pytest.fixture(scope="module")
def vae() -> VAEModel:
    """An untrained tiny VAE with fixed weights."""
    torch.manual_seed(0)
    return VAEModel(tiny_config())


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """4 synthetic subjects x (neutral, happy), prepared at 32 px, all in the test split."""
    folder = tmp_path_factory.mktemp("latent")
    generate_dataset(folder / "raw", n_subjects=4, expressions=("neutral", "happy"), size=64, seed=0)
    prepare_dataset(folder / "raw", folder / "prepared", PrepareOptions(size=SIZE, split_only="test"))
    return folder / "prepared"


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory, vae) -> dict[str, Path]:
    """The tiny VAE and a tiny neutralizer (mean+max pooling) saved as model folders."""
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(1)
    neutralizer = NeutralizerModel(NeutralizerConfig(vae=tiny_config(), pooling="mean+max", max_inputs=3))
    return {"vae": vae.save(folder / "vae"), "neutralizer": neutralizer.save(folder / "neutralizer")}


def test_interpolation_runs_from_decoded_a_to_decoded_b(vae, monkeypatch):
    """The decoded latents go from mu(A) to mu(B) in equal steps; the end faces are decode(mu(A)) and decode(mu(B))."""
    space = LatentSpace(vae)
    a, b = torch.zeros(3, SIZE, SIZE), torch.ones(3, SIZE, SIZE)
    mu = space.encode(torch.stack([a, b]))
    assert (mu[0] - mu[1]).abs().max() > 1e-3
    decoded = []
    decode = space.decode
    monkeypatch.setattr(space, "decode", lambda z: decoded.append(z) or decode(z))
    path = space.interpolate(a, b, 3)
    (z,) = decoded
    assert path.shape == (3, 3, SIZE, SIZE)
    assert torch.allclose(z, torch.stack([mu[0], mu.mean(0), mu[1]]), atol=1e-6)
    assert torch.allclose(path[0], decode(mu[:1])[0], atol=1e-6)
    assert torch.allclose(path[2], decode(mu[1:])[0], atol=1e-6)
    with pytest.raises(ValueError):
        space.interpolate(a, b, 1)


def test_neutralizer_latent_is_the_networks_own_for_one_photo(model_dirs):
    """On single crops the neutralizer's latent and decoding are what its network computes for N = 1."""
    from facexpr.models import load_model

    model = load_model(model_dirs["neutralizer"])
    space = LatentSpace(model)
    x = torch.rand(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(4))
    full = model.forward(x.unsqueeze(1))
    assert torch.allclose(space.encode(x), full.latent, atol=1e-5)
    assert torch.allclose(space.reconstruct(x), full.decoded.clamp(0, 1), atol=1e-5)


def test_samples_are_reproducible_and_seeded(vae):
    """The same seed gives the same faces, another seed other faces; the noise check is seeded too."""
    first, again, other = sample_prior(vae, 4, seed=0), sample_prior(vae, 4, seed=0), sample_prior(vae, 4, seed=1)
    assert first.shape == (4, 3, SIZE, SIZE) and 0 <= first.min() and first.max() <= 1
    assert torch.equal(first, again)
    assert (first - other).abs().max() > 1e-4
    noise = sample_from_noise(vae, 2, seed=5)
    assert torch.equal(noise, sample_from_noise(vae, 2, seed=5)) and noise.shape == (2, 3, SIZE, SIZE)


def test_tsne_rows_follow_the_crops_and_twins_stay_together(vae, prepared, tmp_path):
    """One CSV row per crop, in order, with the returned coordinates; duplicated crops embed the same latent."""
    data = PreparedDataset(prepared)
    records = [*data.records, data.records[0], data.records[5]]  # two crops twice
    coords = write_tsne(LatentSpace(vae), data, records, tmp_path / "t.png", tmp_path / "t.csv", seed=0)
    with open(tmp_path / "t.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == TSNE_COLUMNS and len(rows) == len(records) == 10
    assert [r["path"] for r in rows] == [r.path for r in records]
    assert np.allclose([[float(r["x"]), float(r["y"])] for r in rows], coords, rtol=1e-4, atol=1e-3)
    assert np.isfinite(coords).all() and coords.std(axis=0).min() > 0
    # Twins are asserted on the latents t-SNE embeds, not on the embedding: ten points are too few for
    # t-SNE's neighbourhoods to be the same on every CPU and BLAS.
    latents = LatentSpace(vae).vectors_of_records(data, records)
    assert np.allclose(latents[8], latents[0], atol=1e-4) and np.allclose(latents[9], latents[5], atol=1e-4)
    assert np.abs(latents[0] - latents[5]).max() > 1e-3
    assert load_image(tmp_path / "t.png").std() > 5


def test_pick_records_is_seeded_and_keeps_order():
    """A seeded subset in the original order; everything when asking for more than there is."""
    items = list(range(20))
    chosen = pick_records(items, 5, seed=2)
    assert chosen == sorted(chosen) and len(chosen) == 5 and chosen == pick_records(items, 5, seed=2)
    assert pick_records(items, 50) == items


def test_load_face_takes_square_crops_and_aligns_other_images(tmp_path):
    """Square images are crops (resized); a non-square image without a face is a one-line error."""
    crop = np.full((48, 48, 3), 200, np.uint8)
    write_image_atomic(tmp_path / "crop.png", crop)
    face = load_face(tmp_path / "crop.png", SIZE, 1)
    assert face.shape == (1, SIZE, SIZE) and torch.allclose(face, torch.full_like(face, 200 / 255), atol=1e-2)
    write_image_atomic(tmp_path / "wide.png", np.zeros((40, 80, 3), np.uint8))
    with pytest.raises(BadInputError, match="no face found"):
        load_face(tmp_path / "wide.png", SIZE, 3)


@pytest.mark.parametrize("command", ["sample", "tsne"])
def test_commands_have_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_sample_command_modes(model_dirs, prepared, tmp_path):
    """Prior grid, reconstruction rows (input | reconstruction) and an interpolation strip are written."""
    vae_dir = str(model_dirs["vae"])
    result = runner.invoke(app, ["sample", "--model", vae_dir, "--out", str(tmp_path / "prior.png"), "--n", "4"])
    assert result.exit_code == 0, result.output
    assert load_image(tmp_path / "prior.png").shape[:2] == (2 * 68 + 4, 2 * 68 + 12)
    result = runner.invoke(app, ["sample", "-m", vae_dir, "-o", str(tmp_path / "noise.png"), "--from-noise"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["sample", "-m", str(model_dirs["neutralizer"]), "-o", str(tmp_path / "rec.png"),
                                 "--reconstruct", "--data", str(prepared), "--n", "3"])
    assert result.exit_code == 0, result.output
    assert load_image(tmp_path / "rec.png").shape[0] == 18 + 3 * 68 + 4  # header and three rows
    crops = sorted((prepared / "crops").rglob("*.png"))
    result = runner.invoke(app, ["sample", "-m", vae_dir, "-o", str(tmp_path / "line.png"),
                                 "--interpolate", str(crops[0]), str(crops[-1]), "--steps", "4"])
    assert result.exit_code == 0, result.output
    assert load_image(tmp_path / "line.png").shape[1] > 6 * 68


def test_tsne_command_writes_map_and_csv(model_dirs, prepared, tmp_path):
    out = tmp_path / "map.png"
    result = runner.invoke(app, ["tsne", "-m", str(model_dirs["neutralizer"]), "-d", str(prepared), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and len((tmp_path / "map.csv").read_text().splitlines()) == 1 + 8


@pytest.mark.parametrize("extra, message", [
    (["--reconstruct"], "--reconstruct and --data go together"),
    (["--from-noise", "--reconstruct", "--data", "."], "choose one of"),
    (["--reconstruct", "--data", "PREPARED", "--split", "val"], "no crop in split 'val'"),
])
def test_sample_bad_input_is_one_line(model_dirs, prepared, tmp_path, extra, message):
    args = [a.replace("PREPARED", str(prepared)) for a in extra]
    result = runner.invoke(app, ["sample", "-m", str(model_dirs["vae"]), "-o", str(tmp_path / "x.png"), *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_only_stage1_models_sample_the_prior(model_dirs, tmp_path):
    result = runner.invoke(app, ["sample", "-m", str(model_dirs["neutralizer"]), "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "cannot sample faces" in result.output and "(family neutralizer)" in result.output


def test_latent_capabilities_are_protocols(model_dirs, tmp_path):
    """vae samples and encodes, the neutralizer only encodes, a baseline neither: one line naming the family."""
    from facexpr.models import IdentityModel, LatentModel, SamplingModel, load_model

    vae, neutralizer = load_model(model_dirs["vae"]), load_model(model_dirs["neutralizer"])
    assert isinstance(vae, SamplingModel) and isinstance(neutralizer, LatentModel)
    assert not isinstance(neutralizer, SamplingModel)
    identity = IdentityModel(SIZE, 3).save(tmp_path / "identity")
    with pytest.raises(ValueError, match=r"^this model cannot encode faces to a latent space \(family identity\)$"):
        LatentSpace(load_model(identity))
    result = runner.invoke(app, ["tsne", "-m", str(identity), "-d", ".", "-o", str(tmp_path / "map.png")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    message = "this model cannot encode faces to a latent space or a feature layer (family identity)"
    assert f"{identity}: {message}" in " ".join(result.output.split())
