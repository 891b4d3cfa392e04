"""Stage-1 beta-VAE: architectures and presets, reparameterisation, KL term, FaceModel save/load."""

from __future__ import annotations

import json
import math

import pytest
import torch

import facexpr
from facexpr.models.vae import (
    ARCHITECTURES,
    BaseDecoder,
    BaseEncoder,
    BetaVAE,
    VAEConfig,
    VAEModel,
    kl_divergence,
    reparameterize,
)

ARCHS = ("vgg", "resnet", "bigconv")


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("size", (32, 64, 128))
def test_cpu_preset_shapes(arch: str, size: int) -> None:
    """Every architecture encodes to (B, 64) twice and decodes back to the input's shape in [0, 1]."""
    config = VAEConfig.from_preset("cpu", arch=arch, size=size, width=0.0625)
    net = BetaVAE(config).eval()
    x = torch.rand(2, 3, size, size)
    out = net(x)
    assert isinstance(net.encoder, BaseEncoder) and isinstance(net.decoder, BaseDecoder)
    assert out.mu.shape == out.logvar.shape == (2, 64)
    assert out.reconstruction.shape == x.shape
    assert 0 <= out.reconstruction.min() and out.reconstruction.max() <= 1


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("size", (32, 64, 128))
def test_paper_preset_builds(arch: str, size: int) -> None:
    """The published widths build at every size (on the meta device: shapes only, no memory, no training)."""
    config = VAEConfig.from_preset("paper", arch=arch, size=size)
    with torch.device("meta"):
        net = BetaVAE(config)
        out = net(torch.zeros(2, 3, size, size))
    assert out.reconstruction.shape == (2, 3, size, size) and out.mu.shape == (2, 64)


def test_published_feature_maps() -> None:
    """Paper preset at 128 px: VGG and ResNet end at 8x8x512 (VGG with FC 4096), BigConvNet at 4x4x1024."""
    with torch.device("meta"):
        vgg = BetaVAE(VAEConfig.from_preset("paper", arch="vgg"))
        resnet = BetaVAE(VAEConfig.from_preset("paper", arch="resnet"))
        bigconv = BetaVAE(VAEConfig.from_preset("paper", arch="bigconv"))
        x = torch.zeros(1, 3, 128, 128)
        assert vgg.encoder.trunk(x).shape == (1, 512, 8, 8)
        assert vgg.encoder.feature_dim == 4096
        assert resnet.encoder.feature_dim == 512 * 8 * 8
        assert bigconv.encoder.feature_dim == 1024 * 4 * 4
    assert set(ARCHITECTURES) == set(ARCHS)


def test_cpu_preset_is_smaller_and_grey_works() -> None:
    """The CPU preset defaults to 64 px at 1/8 width; grey (1-channel) crops go through."""
    config = VAEConfig.from_preset("cpu", arch="vgg", channels=1)
    assert (config.size, config.width) == (64, 0.125)
    net = BetaVAE(config).eval()
    assert net(torch.rand(3, 1, 64, 64)).reconstruction.shape == (3, 1, 64, 64)


@pytest.mark.parametrize("fields", [{"size": 48}, {"size": 512}, {"arch": "alexnet"}, {"width": 0}, {"channels": 2}])
def test_config_rejects_bad_values(fields: dict) -> None:
    """Sizes that are not powers of two in 32..256, unknown architectures and bad widths fail at once."""
    with pytest.raises(ValueError):
        VAEConfig.from_preset("cpu", **fields)


def test_reparameterisation_statistics() -> None:
    """z = mu + exp(logvar / 2) * eps has mean mu and standard deviation exp(logvar / 2), and passes gradients."""
    mu = torch.tensor([[1.5, -2.0]]).expand(200_000, 2).clone().requires_grad_(True)
    logvar = torch.log(torch.tensor([[0.25, 4.0]])).expand(200_000, 2).clone().requires_grad_(True)
    z = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(z.mean(0), torch.tensor([1.5, -2.0]), atol=0.02)
    assert torch.allclose(z.std(0), torch.tensor([0.5, 2.0]), rtol=0.01)
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None and logvar.grad.abs().sum() > 0


def test_kl_matches_closed_form() -> None:
    """The KL term equals torch.distributions' KL(N(mu, sigma) || N(0, 1)) summed over dimensions; 0 at the prior."""
    generator = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(5, 64, generator=generator), torch.randn(5, 64, generator=generator)
    posterior = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    expected = torch.distributions.kl_divergence(posterior, torch.distributions.Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(kl_divergence(mu, logvar), expected, atol=1e-4)
    assert torch.allclose(kl_divergence(torch.zeros(2, 8), torch.zeros(2, 8)), torch.zeros(2))
    one = kl_divergence(torch.tensor([[1.0]]), torch.tensor([[math.log(4.0)]]))
    assert one.item() == pytest.approx(0.5 * (4.0 + 1.0 - 1.0 - math.log(4.0)))


def test_save_load_round_trip(tmp_path) -> None:
    """A VAEModel saved as config.json + safetensors reloads through facexpr.load_model with identical outputs."""
    torch.manual_seed(0)
    model = VAEModel(VAEConfig.from_preset("cpu", arch="resnet", size=32, width=0.0625))
    model.save(tmp_path / "vae")
    assert sorted(p.name for p in (tmp_path / "vae").iterdir()) == ["config.json", "weights.safetensors"]
    assert json.loads((tmp_path / "vae" / "config.json").read_text())["vae"]["arch"] == "resnet"
    loaded = facexpr.load_model(tmp_path / "vae")
    assert isinstance(loaded, VAEModel)
    x = torch.rand(3, 2, 3, 32, 32)
    assert torch.equal(model.predict(x), loaded.predict(x))
    mu = loaded.encode(x[:, 0])
    assert mu.shape == (3, 64)
    assert torch.equal(loaded.decode(mu), model.decode(mu))
    assert loaded.sample(4, torch.Generator().manual_seed(0)).shape == (4, 3, 32, 32)


def test_predict_resizes_inputs() -> None:
    """Inputs at another crop size are resized to the model's; the output is at the model's size."""
    model = VAEModel(VAEConfig.from_preset("cpu", arch="bigconv", size=32))
    assert model.predict(torch.rand(2, 1, 3, 64, 64)).shape == (2, 3, 32, 32)
