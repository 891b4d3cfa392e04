"""``facexpr neutralize`` / ``synthesize``: raw photos -> aligned crops -> any model -> crops and pasted photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from facexpr.cli import app
from facexpr.data.synthetic import generate_dataset
from facexpr.faces import FacePipeline
from facexpr.inference import apply_to_photos
from facexpr.io import BadInputError, load_image
from facexpr.models import IdentityModel
from facexpr.models.neutralizer import NeutralizerConfig, NeutralizerModel
from facexpr.models.vae import VAEConfig

runner = CliRunner()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    """Three raw synthetic photos (160 px, head placement varies) of one person: happy, sad, surprise."""
    root = tmp_path_factory.mktemp("photos")
    paths = generate_dataset(root, n_subjects=1, expressions=("happy", "sad", "surprise"), size=160, seed=5)
    return sorted(p for p in paths if p.suffix == ".png")


def test_identity_output_is_the_aligned_face_and_pastes_back_onto_the_photo(photos, tmp_path):
    """With a model that returns its input, the crop is the pipeline's crop and the pasted photo is the photo."""
    model = IdentityModel(64, 3, None, "neutral")
    result = apply_to_photos(model, photos[:2], tmp_path, paste=True)
    # the photos are <subject>/<expression>/1.png: the expression folder tells them apart
    assert [p.name for p in result.outputs] == [f"{p.parent.name}_1_neutral.png" for p in photos[:2]]
    crop = load_image(result.outputs[0])
    expected = FacePipeline(size=64).process(load_image(photos[0]))[0].image
    assert crop.shape == (64, 64, 3) and np.abs(crop.astype(int) - expected).max() <= 1
    original = load_image(photos[0]).astype(float)
    pasted = load_image(result.pasted[0]).astype(float)
    assert pasted.shape == original.shape
    assert np.abs(pasted - original).mean() < 3.0  # a 64 px crop warped back: only resampling blur


def test_multi_image_model_uses_all_photos_together(photos, tmp_path):
    """A 3-input neutralizer gives one face from the three photos; --separately gives one per photo."""
    torch.manual_seed(0)
    model = NeutralizerModel(NeutralizerConfig(vae=VAEConfig.from_preset("cpu", size=32, width=0.0625), max_inputs=3))
    together = apply_to_photos(model, photos, tmp_path / "together")
    assert [p.name for p in together.outputs] == ["neutral.png"]
    separately = apply_to_photos(model, photos, tmp_path / "separately", together=False)
    assert len(separately.outputs) == 3
    assert load_image(together.outputs[0]).shape == (32, 32, 3)


def test_bad_photos_are_skipped_with_a_reason_and_none_usable_is_an_error(photos, tmp_path):
    """An unreadable file and a faceless image are skipped (one line each); the good photo still runs."""
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.new("RGB", (120, 120), "grey").save(blank)
    model = IdentityModel(64, 3, None, "neutral")
    result = apply_to_photos(model, [broken, photos[0], blank], tmp_path / "out")
    assert len(result.outputs) == 1 and len(result.skipped) == 2
    assert any("broken.jpg" in s for s in result.skipped) and any("no face found" in s for s in result.skipped)
    with pytest.raises(BadInputError, match="no usable face"):
        apply_to_photos(model, [broken, blank], tmp_path / "none")


def test_cli_checks_the_task_and_writes_pasted_photos(photos, tmp_path):
    """neutralize refuses a synthesis model (exit 2, one line); synthesize runs it with --paste."""
    IdentityModel(64, 3, ("neutral",), "happy").save(tmp_path / "to-happy")
    refused = runner.invoke(app, ["neutralize", "--model", str(tmp_path / "to-happy"), str(photos[0]),
                                  "--out", str(tmp_path / "n")])
    assert refused.exit_code == 2 and "synthesize" in refused.output
    done = runner.invoke(app, ["synthesize", "--model", str(tmp_path / "to-happy"), str(photos[0]),
                               "--out", str(tmp_path / "s"), "--paste"])
    assert done.exit_code == 0, done.output
    names = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert names == ["1_happy.png", "1_happy_pasted.png"]
