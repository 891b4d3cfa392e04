"""The contract every model family keeps: predict(inputs, target, strength), check_request, to(device)."""

from __future__ import annotations

import pytest
import torch

from facexpr.models import (
    ConditionalModel,
    FaceModel,
    IdentityModel,
    MeanFaceModel,
    SubjectHeldOutModel,
)
from facexpr.models.masked_regression import EgoOptions, GlobalRidge, MaskedRegression
from facexpr.models.neutralizer import NeutralizerConfig, NeutralizerModel
from facexpr.models.vae import VAEConfig, VAEModel

SIZE = 32


def _pairs() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Six random smiling -> neutral crop pairs, the neutral ones darker: a mapping that changes its input."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(6, 3, SIZE, SIZE, generator=generator)
    return [(inputs, (0.6 * inputs + 0.1 * torch.rand(6, 3, SIZE, SIZE, generator=generator)).clamp(0, 1))]


def _tiny_vae() -> VAEConfig:
    return VAEConfig.from_preset("cpu", size=SIZE, width=0.0625)


def _family(name: str) -> FaceModel:
    """A small model of each family, fitted on random pairs or with fixed random weights."""
    torch.manual_seed(0)
    if name == "identity":
        return IdentityModel(SIZE, 3)
    if name == "mean-face":
        faces = torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
        return MeanFaceModel(faces, [("x", "a"), ("x", "b"), ("x", "c")], loso=True)
    if name == "masked-regression":
        return MaskedRegression.fit_batches(_pairs(), "happy", "neutral", ego=EgoOptions(False))
    if name == "global-ridge":
        return GlobalRidge.fit_batches(_pairs(), "happy", "neutral")
    if name == "vae":
        return VAEModel(_tiny_vae())
    return NeutralizerModel(NeutralizerConfig(vae=_tiny_vae(), max_inputs=2))


FAMILIES = ("identity", "mean-face", "masked-regression", "global-ridge", "vae", "neutralizer")
INTERPOLATING = ("identity", "mean-face", "masked-regression", "global-ridge")


def _crops(n: int = 2, shots: int = 1) -> torch.Tensor:
    return torch.rand(n, shots, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(7))


@pytest.mark.parametrize("family", FAMILIES)
def test_default_target_is_the_only_one_and_others_are_refused_naming_it(family):
    model = _family(family)
    inputs = _crops()
    assert model.target_expressions == ("neutral",) and not isinstance(model, ConditionalModel)
    output = model.predict(inputs)
    assert output.shape == (2, 3, SIZE, SIZE) and 0 <= output.min() and output.max() <= 1
    torch.testing.assert_close(model.predict(inputs, target="neutral"), output)
    assert model.check_request("normal") == "neutral"  # Yale's label for it
    with pytest.raises(ValueError, match=r"cannot produce 'happy' \(it knows: neutral\)$"):
        model.predict(inputs, target="happy")


@pytest.mark.parametrize("family", INTERPOLATING)
def test_strength_goes_in_a_straight_line_from_the_input(family):
    """0 returns the first photo, 1 the trained output, 0.5 halfway (no clipping at these values)."""
    model = _family(family)
    inputs = _crops()
    full = model.predict(inputs)
    torch.testing.assert_close(model.predict(inputs, strength=0.0), inputs[:, 0])
    torch.testing.assert_close(model.predict(inputs, strength=0.5), (inputs[:, 0] + full) / 2)
    if family != "identity":
        assert (full - inputs[:, 0]).abs().mean() > 0.05  # a change to dial


@pytest.mark.parametrize("family", ("vae", "neutralizer"))
def test_families_that_cannot_dial_strength_refuse_it_in_one_line(family):
    model = _family(family)
    assert not model.dials_strength
    with pytest.raises(ValueError, match=r"produces neutral at full strength only, not at strength 0\.5$"):
        model.predict(_crops(), strength=0.5)
    torch.testing.assert_close(model.predict(_crops(), strength=1.0), model.predict(_crops()))


@pytest.mark.parametrize("family", FAMILIES)
def test_to_cpu_round_trips(family):
    """``to`` returns the model itself, on that device, with the same outputs; its tensors follow it."""
    model = _family(family)
    inputs = _crops(shots=2 if family == "neutralizer" else 1)
    before = model.predict(inputs)
    assert model.device == torch.device("cpu")
    assert model.to("cpu") is model and model.to(torch.device("cpu")) is model
    assert model.device == torch.device("cpu")
    after = model.predict(inputs.to(model.device))
    assert after.device == model.device
    torch.testing.assert_close(after, before)
    assert all(t.device == model.device for t in model.tensors().values())


def test_only_the_mean_face_leaves_a_subject_out():
    assert isinstance(_family("mean-face"), SubjectHeldOutModel)
    assert not any(isinstance(_family(f), SubjectHeldOutModel) for f in FAMILIES if f != "mean-face")
    model = _family("mean-face")
    with pytest.raises(ValueError, match="1 subject"):
        model.predict_leaving_out(_crops(n=2), [("x", "a")])
