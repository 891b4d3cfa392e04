"""The neutralizer's blending heads: the mask head, the flow head and its warp."""

from __future__ import annotations

import pytest
import torch

from facexpr.models.neutralizer import NeutralizerConfig, NeutralizerNet, warp
from facexpr.models.vae import VAEConfig

TINY = VAEConfig.from_preset("cpu", arch="resnet", size=32, width=0.0625, dropout=0.0)


def test_zero_flow_is_the_identity_and_a_constant_flow_shifts() -> None:
    """A displacement of 2/S grid units moves the image content by one pixel (away from the border)."""
    images = torch.rand(2, 3, 16, 16)
    assert torch.allclose(warp(images, torch.zeros(2, 16, 16, 2)), images, atol=1e-6)
    flow = torch.zeros(2, 16, 16, 2)
    flow[..., 0] = 2 / 16  # sample one pixel to the right: content moves left
    shifted = warp(images, flow)
    assert torch.allclose(shifted[..., :-1], images[..., 1:], atol=1e-5)


@pytest.mark.parametrize("head", ["mask", "flow"])
def test_heads_start_half_blended_and_ignore_photo_order(head: str) -> None:
    """Untrained, the flow head does not move the photos (output = half decoded, half mean photo); both heads
    are permutation-invariant over the photos."""
    torch.manual_seed(0)
    net = NeutralizerNet(NeutralizerConfig(vae=TINY, head=head)).eval()
    inputs = torch.rand(2, 4, 3, 32, 32)
    out = net(inputs)
    if head == "flow":
        assert torch.allclose(out.image, 0.5 * out.decoded + 0.5 * inputs.mean(1), atol=1e-5)
    assert torch.allclose(out.image, net(inputs.flip(1)).image, atol=1e-5)


def test_flow_head_can_undo_a_shift() -> None:
    """Trained on photos shifted by two pixels, the flow head learns to shift them back (the mask alone cannot)."""
    torch.manual_seed(0)
    targets = torch.nn.functional.avg_pool2d(torch.rand(16, 3, 36, 36), 3, 1)[..., 1:33, 1:33]
    photos = torch.roll(targets, 2, dims=-1)[:, None]
    errors = {}
    for head in ("mask", "flow"):
        net = NeutralizerNet(NeutralizerConfig(vae=TINY, head=head, mask_width=8))
        optimizer = torch.optim.Adam(net.mask_head.parameters(), lr=1e-2)
        for _ in range(60):
            optimizer.zero_grad()
            loss = (net(photos).image - targets)[..., 4:-4, 4:-4].pow(2).mean()
            loss.backward()
            optimizer.step()
        errors[head] = loss.item()
    shifted_error = float((photos[:, 0] - targets)[..., 4:-4, 4:-4].pow(2).mean())
    assert errors["flow"] < 0.1 * shifted_error and errors["flow"] < 0.1 * errors["mask"], (errors, shifted_error)


def test_unknown_head_is_rejected() -> None:
    """A typo in the head's name is a one-line ValueError naming the choices."""
    with pytest.raises(ValueError, match="unknown head 'unet'; choose from mask, flow"):
        NeutralizerConfig(head="unet")


def test_configs_saved_before_the_head_option_load_as_mask() -> None:
    """A model folder written before ``head`` existed keeps the mask-only head it was trained with."""
    saved = NeutralizerConfig(vae=TINY, head="mask").to_dict()
    del saved["head"]
    assert NeutralizerConfig.from_dict(saved).head == "mask"
    assert NeutralizerConfig.from_dict(NeutralizerConfig(vae=TINY).to_dict()).head == "flow"
