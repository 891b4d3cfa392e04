"""facexpr.nn: backbones keep their weights' names, and the U-Net, discriminators and conditioning learn toy tasks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from facexpr.nn import (
    ARCHITECTURES,
    DCGANDiscriminator,
    LatentDiscriminator,
    MaskHead,
    PatchGAN,
    UNet,
    build_decoder,
    build_encoder,
    concat_planes,
    inject,
    tile_planes,
)

ARCHS = ("vgg", "resnet", "bigconv")

#: sha256 (first 16 hex digits) of "name shape" per state-dict entry, taken from the networks as they were in
#: facexpr.models.vae and facexpr.models.neutralizer before the move: saved models load only if these hold.
STATE_DICT_DIGESTS = {
    "vgg": ("e6d44dc176ccc6e8", "566fdc2be32f0a7e"),
    "resnet": ("c63c43feed9cf56d", "036be6f370270f1f"),
    "bigconv": ("a2e3d68f4c7fa130", "1eb817244ff8335c"),
    "mask": ("060df3ffd5706ac0", "1f58f28263c0a5b2"),
}


@dataclass(frozen=True)
class TinyBackbone:
    """A backbone configuration that is not a VAEConfig: nn needs only these fields."""

    arch: str
    size: int = 32
    channels: int = 3
    latent_dim: int = 16
    width: float = 0.0625
    dropout: float = 0.0


def layout_digest(module: torch.nn.Module) -> str:
    """The state dict's names and shapes, hashed."""
    text = "\n".join(f"{name} {tuple(value.shape)}" for name, value in module.state_dict().items())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_registry_holds_the_three_families() -> None:
    """Importing facexpr.nn registers VGG, ResNet and BigConvNet."""
    assert set(ARCHITECTURES) == set(ARCHS)


@pytest.mark.parametrize("arch", ARCHS)
def test_backbone_state_dicts_keep_their_names(arch: str) -> None:
    """Encoder and decoder state dicts have the names and shapes they had in facexpr.models.vae."""
    config = TinyBackbone(arch)
    encoder, decoder = build_encoder(config), build_decoder(config)
    assert {"mu.weight", "mu.bias", "logvar.weight", "logvar.bias"} <= set(encoder.state_dict())
    assert (layout_digest(encoder), layout_digest(decoder)) == STATE_DICT_DIGESTS[arch], list(encoder.state_dict())


def test_mask_head_state_dict_keeps_its_names() -> None:
    """The blending heads have the names and shapes they had in facexpr.models.neutralizer."""
    assert (layout_digest(MaskHead(3, 8)), layout_digest(MaskHead(3, 8, flow=True))) == STATE_DICT_DIGESTS["mask"]


@pytest.mark.parametrize("arch", ARCHS)
def test_backbone_weights_round_trip_through_a_file(arch: str, tmp_path) -> None:
    """Weights saved as safetensors load strictly into a freshly built (differently seeded) network: same outputs."""
    config = TinyBackbone(arch)
    torch.manual_seed(0)
    encoder, decoder = build_encoder(config).eval(), build_decoder(config).eval()
    save_file(encoder.state_dict(), tmp_path / "encoder.safetensors")
    save_file(decoder.state_dict(), tmp_path / "decoder.safetensors")
    torch.manual_seed(1)
    encoder2, decoder2 = build_encoder(config).eval(), build_decoder(config).eval()
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    assert not torch.allclose(encoder(x)[0], encoder2(x)[0])
    encoder2.load_state_dict(load_file(tmp_path / "encoder.safetensors"), strict=True)
    decoder2.load_state_dict(load_file(tmp_path / "decoder.safetensors"), strict=True)
    mu, _ = encoder(x)
    assert torch.allclose(encoder2(x)[0], mu, atol=1e-6)
    assert torch.allclose(decoder2(mu), decoder(mu), atol=1e-6)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("size", (32, 64))
def test_backbones_map_images_to_latents_and_back(arch: str, size: int) -> None:
    """(B, C, S, S) -> mu, logvar (B, D) -> (B, C, S, S) in [0, 1], grey and colour."""
    for channels in (1, 3):
        config = TinyBackbone(arch, size=size, channels=channels)
        mu, logvar = build_encoder(config).eval()(torch.rand(2, channels, size, size))
        assert mu.shape == logvar.shape == (2, config.latent_dim)
        out = build_decoder(config).eval()(mu)
        assert out.shape == (2, channels, size, size)
        assert 0 <= out.min() and out.max() <= 1


# conditioning

def test_tile_puts_each_value_on_every_pixel_of_its_plane() -> None:
    """A one-hot class k tiled to planes: plane k is 1 everywhere, the others 0; concat_planes keeps the image first."""
    one_hot = F.one_hot(torch.tensor([2, 0]), 4).float()
    planes = tile_planes(one_hot, 5, 7)
    assert planes.shape == (2, 4, 5, 7)
    assert torch.equal(planes[0, 2], torch.ones(5, 7)) and planes[0, [0, 1, 3]].abs().sum() == 0
    assert torch.equal(planes[1, 0], torch.ones(5, 7)) and planes[1, 1:].abs().sum() == 0
    images = torch.rand(2, 3, 5, 7)
    joined = concat_planes(images, one_hot)
    assert torch.equal(joined[:, :3], images) and torch.equal(joined[:, 3:], planes)


def test_inject_appends_to_flat_features_and_to_maps() -> None:
    """At a bottleneck the vector follows the code, flat or as planes; other shapes are refused."""
    vector = torch.tensor([[0.5, -1.0]])
    flat = torch.rand(1, 6)
    assert torch.equal(inject(flat, vector), torch.cat([flat, vector], dim=1))
    feature_map = torch.rand(1, 4, 2, 3)
    out = inject(feature_map, vector)
    assert out.shape == (1, 6, 2, 3) and torch.equal(out[:, :4], feature_map)
    assert torch.all(out[0, 4] == 0.5) and torch.all(out[0, 5] == -1.0)
    with pytest.raises(ValueError):
        inject(torch.rand(1, 2, 3), vector)


# U-Net

def smooth_patterns(count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Grey images (count, 1, size, size): random values on a coarse grid, upsampled bilinearly."""
    coarse = torch.rand(count, 1, size // 4, size // 4, generator=generator)
    return F.interpolate(coarse, size=size, mode="bilinear", align_corners=False)


def test_unet_learns_to_shift_a_pattern() -> None:
    """A tiny U-Net trained 60 Adam steps to move patterns 3 px right beats the identity on held-out patterns."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    net = UNet(1, depth=2, width=8)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        x = smooth_patterns(16, 16, generator)
        loss = F.mse_loss(net(x), torch.roll(x, 3, dims=-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x = smooth_patterns(64, 16, generator)
    target = torch.roll(x, 3, dims=-1)
    with torch.no_grad():
        learned = F.mse_loss(net.eval()(x), target).item()
    assert learned < 0.5 * F.mse_loss(x, target).item()


def test_residual_unet_starts_as_the_identity_and_follows_its_condition() -> None:
    """Untrained, a residual U-Net returns its input; trained with a flag (left or right shift) as condition,
    it beats the identity on held-out patterns and does much worse when handed the wrong flag."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    net = UNet(1, depth=2, width=8, condition_channels=1, output="residual")
    x = smooth_patterns(4, 16, generator)
    assert torch.allclose(net(x, torch.zeros(4, 1)), x)

    def task(count: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = smooth_patterns(count, 16, generator)
        flag = torch.randint(0, 2, (count, 1), generator=generator).float()
        target = torch.where(flag[:, :, None, None] > 0, torch.roll(x, 2, dims=-1), torch.roll(x, -2, dims=-1))
        return x, flag, target

    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(80):
        x, flag, target = task(16)
        loss = F.mse_loss(net(x, flag), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x, flag, target = task(64)
    net.eval()
    with torch.no_grad():
        right = F.mse_loss(net(x, flag), target).item()
        wrong = F.mse_loss(net(x, 1 - flag), target).item()
    assert right < 0.5 * F.mse_loss(x, target).item()
    assert wrong > 3 * right


def test_unet_rejects_sides_it_cannot_halve() -> None:
    """Sides not divisible by 2 ** depth and a missing condition fail with ValueError."""
    with pytest.raises(ValueError):
        UNet(1, depth=3, width=4)(torch.rand(1, 1, 20, 20))
    with pytest.raises(ValueError):
        UNet(1, depth=1, width=4, condition_channels=2)(torch.rand(1, 1, 8, 8))


# discriminators

def blocky_patterns(count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Sharp grey images: random black/white 4x4 blocks."""
    coarse = (torch.rand(count, 1, size // 4, size // 4, generator=generator) > 0.5).float()
    return F.interpolate(coarse, scale_factor=4, mode="nearest")


def blurred(images: torch.Tensor) -> torch.Tensor:
    """A 5x5 box blur (same mean, no sharp edges)."""
    return F.avg_pool2d(images, 5, stride=1, padding=2, count_include_pad=False)


def train_sharp_vs_blurred(discriminator: torch.nn.Module, score, steps: int = 40) -> float:
    """Train ``discriminator`` (real: sharp, fake: blurred) with BCE; its held-out accuracy."""
    generator = torch.Generator().manual_seed(3)
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=2e-3, betas=(0.5, 0.999))
    for _ in range(steps):
        sharp = blocky_patterns(16, 32, generator)
        logits = score(discriminator(torch.cat([sharp, blurred(blocky_patterns(16, 32, generator))])))
        labels = torch.cat([torch.ones(16), torch.zeros(16)])
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    discriminator.eval()
    with torch.no_grad():
        real = score(discriminator(blocky_patterns(100, 32, generator)))
        fake = score(discriminator(blurred(blocky_patterns(100, 32, generator))))
    return ((real > 0).float().mean().item() + (fake < 0).float().mean().item()) / 2


def test_dcgan_discriminator_tells_sharp_from_blurred() -> None:
    """A tiny DCGAN discriminator, 40 steps: > 80 % held-out accuracy on sharp vs blurred block patterns."""
    torch.manual_seed(0)
    accuracy = train_sharp_vs_blurred(DCGANDiscriminator(32, in_channels=1, width=8), lambda out: out.logit)
    assert accuracy > 0.8


def test_patchgan_tells_sharp_from_blurred() -> None:
    """A tiny PatchGAN (mean of its patch logits), 40 steps: > 80 % held-out accuracy on the same task."""
    torch.manual_seed(0)
    accuracy = train_sharp_vs_blurred(PatchGAN(1, width=8, n_layers=2), lambda out: out.mean((1, 2, 3)))
    assert accuracy > 0.8


@pytest.mark.parametrize(("n_layers", "patch"), [(1, 16), (2, 34), (3, 70)])
def test_patchgan_logits_see_the_published_patch(n_layers: int, patch: int) -> None:
    """The input pixels one logit depends on (its gradient) span pix2pix's patch: 70x70 for 3 layers."""
    torch.manual_seed(0)
    net = PatchGAN(1, width=4, n_layers=n_layers).eval()  # eval: batch statistics would mix the whole image
    images = torch.rand(1, 1, 128, 128, requires_grad=True)
    logits = net(images)
    logits[0, 0, logits.shape[2] // 2, logits.shape[3] // 2].backward()
    rows, cols = torch.nonzero(images.grad[0, 0], as_tuple=True)
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (patch, patch)


def stripes(labels: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Grey stripes with random phase and period 4..8 px: vertical for label 0, horizontal for label 1."""
    count = labels.shape[0]
    period = torch.randint(4, 9, (count, 1, 1), generator=generator).float()
    phase = torch.rand(count, 1, 1, generator=generator) * 2 * torch.pi
    ramp = torch.arange(size).float()
    vertical = 0.5 + 0.5 * torch.sin(2 * torch.pi * ramp[None, None, :] / period + phase).expand(count, size, size)
    return torch.where(labels[:, None, None] > 0, vertical.transpose(1, 2), vertical)[:, None]


def test_dcgan_auxiliary_head_and_projection_learn_the_class() -> None:
    """Stripes of class 0 (vertical) or 1 (horizontal): the auxiliary head learns the class from the image, and
    the projection term learns to call an image real only with its own class (impossible without the labels)."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(4)
    net = DCGANDiscriminator(32, in_channels=1, width=8, classes=2, auxiliary=True, projection=True)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3, betas=(0.5, 0.999))
    for _ in range(40):
        labels = torch.randint(0, 2, (32,), generator=generator)
        images = stripes(labels, 32, generator)
        given = torch.cat([labels[:16], 1 - labels[16:]])  # the second half is paired with the wrong class
        out = net(images, given)
        matches = torch.cat([torch.ones(16), torch.zeros(16)])
        loss = F.binary_cross_entropy_with_logits(out.logit, matches) + F.cross_entropy(out.class_logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    labels = torch.randint(0, 2, (200,), generator=generator)
    images = stripes(labels, 32, generator)
    with torch.no_grad():
        own, other = net(images, labels), net(images, 1 - labels)
    assert (own.class_logits.argmax(1) == labels).float().mean() > 0.8
    assert ((own.logit > 0).float().mean() + (other.logit < 0).float().mean()) / 2 > 0.8


@pytest.mark.parametrize("size", (32, 64, 128, 256))
def test_dcgan_discriminator_reaches_one_logit_at_every_size(size: int) -> None:
    """Every supported size ends in one logit per image; other sizes and a projection without labels fail."""
    with torch.device("meta"):
        out = DCGANDiscriminator(size, width=4)(torch.zeros(3, 3, size, size))
    assert out.logit.shape == (3,) and out.class_logits is None
    with pytest.raises(ValueError):
        DCGANDiscriminator(48)
    with pytest.raises(ValueError):
        DCGANDiscriminator(32, width=4, classes=3, projection=True)(torch.zeros(1, 3, 32, 32))


def test_latent_discriminator_learns_a_linearly_separable_labelling() -> None:
    """Codes labelled by the largest of three random projections: > 90 % held-out accuracy after 150 steps."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(5)
    projection = torch.randn(8, 3, generator=generator)
    net = LatentDiscriminator(8, 3, hidden=32, dropout=0.1)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(150):
        codes = torch.randn(64, 8, generator=generator)
        loss = F.cross_entropy(net(codes), (codes @ projection).argmax(1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    codes = torch.randn(500, 8, generator=generator)
    with torch.no_grad():
        accuracy = (net.eval()(codes).argmax(1) == (codes @ projection).argmax(1)).float().mean()
    assert accuracy > 0.9


@pytest.mark.parametrize("inject, sampling", [("planes", "strided"), ("bottleneck", "pool"), ("both", "strided")])
def test_conditional_encoder_decoder_learns_what_its_one_hot_asks(inject, sampling):
    """Class 0 asks for the image, class 1 for its negative: after training, held-out images come out right for
    the one-hot given and wrong for the other one (the condition is used, not ignored)."""
    from facexpr.nn import ConditionalEncoderDecoder

    torch.manual_seed(0)
    net = ConditionalEncoderDecoder(channels=1, classes=2, depth=2, width=8, inject=inject, sampling=sampling)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)

    def batch(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        images = F.avg_pool2d(torch.rand(n, 1, 16, 16, generator=generator), 3, 1, 1)
        labels = torch.randint(0, 2, (n,), generator=generator)
        targets = torch.where(labels[:, None, None, None] == 0, images, 1 - images)
        return images, F.one_hot(labels, 2).float(), targets

    generator = torch.Generator().manual_seed(1)
    for _ in range(300):
        images, onehot, targets = batch(16, generator)
        loss = F.mse_loss(net(images, onehot), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    images, onehot, targets = batch(64, torch.Generator().manual_seed(2))
    with torch.no_grad():
        right = F.mse_loss(net(images, onehot), targets).item()
        wrong = F.mse_loss(net(images, 1 - onehot), targets).item()
    assert right < 0.25 * wrong, (right, wrong)
