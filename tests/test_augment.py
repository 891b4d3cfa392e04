"""Face augmentation with shared draws, and expression balancing."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from facexpr.data.augment import FaceAugment, balance_expressions
from facexpr.data.records import FaceRecord

H = W = 24


def faces(batch: int = 4, channels: int = 3, seed: int = 0) -> torch.Tensor:
    """Random images in [0, 1] with structure (a gradient), so geometric changes show."""
    generator = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, W).expand(H, W)
    return (0.5 * torch.rand(batch, channels, H, W, generator=generator) + 0.5 * ramp).clamp(0, 1)


def geometric_only(**options) -> FaceAugment:
    """No photometric jitter: output is a linear function of the input, channel by channel."""
    return FaceAugment(brightness=0.0, contrast=0.0, **options)


def test_flip_only_gives_the_mirror_and_nothing_gives_identity():
    x = faces()
    flip = FaceAugment(flip_p=1.0, brightness=0.0, contrast=0.0, perspective=0.0, rotation_degrees=0.0)
    assert torch.allclose(flip(x), x.flip(-1), atol=1e-6)
    mirrored, original = flip(x, x.flip(-1))
    assert torch.allclose(mirrored, original.flip(-1), atol=1e-6)
    none = FaceAugment(flip_p=0.0, brightness=0.0, contrast=0.0, perspective=0.0, rotation_degrees=0.0)
    assert torch.equal(none(x), x)


def test_augmentation_changes_images_keeps_range_and_draws_per_sample():
    torch.manual_seed(0)
    x = faces(8)
    out = FaceAugment(brightness=0.6, contrast=0.6)(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert all(not torch.allclose(out[i], x[i], atol=1e-3) for i in range(8))
    same = FaceAugment()(x[:1].expand(8, -1, -1, -1).contiguous())
    assert not all(torch.allclose(same[0], same[i]) for i in range(1, 8))  # independent draws across the batch


def test_same_seed_same_result_other_seed_other_result():
    x = faces()
    augment = FaceAugment()
    torch.manual_seed(3)
    first = augment(x)
    torch.manual_seed(3)
    assert torch.equal(augment(x), first)
    torch.manual_seed(4)
    assert not torch.equal(augment(x), first)


def test_tensors_of_one_call_share_the_draw():
    torch.manual_seed(0)
    x = faces()
    a, b = FaceAugment()(x, x.clone())
    assert torch.equal(a, b) and not torch.allclose(a, x, atol=1e-3)
    # grey target with RGB input: the same geometry (the mean of the warped RGB is the warped grey)
    rgb, grey = geometric_only(perspective_p=1.0)(x, x.mean(1, keepdim=True))
    assert grey.shape == (4, 1, H, W)
    assert torch.allclose(rgb.mean(1, keepdim=True), grey, atol=1e-5)
    assert not torch.allclose(grey, x.mean(1, keepdim=True), atol=1e-3)


def test_groups_share_the_draw_within_a_sample_unless_asked_not_to():
    torch.manual_seed(0)
    x = faces(3)
    group = x[:, None].expand(3, 5, 3, H, W).contiguous()  # five copies of each sample's image
    inputs, target = FaceAugment()(group, x)
    assert inputs.shape == (3, 5, 3, H, W) and target.shape == x.shape
    for n in range(5):
        assert torch.equal(inputs[:, n], target)
    apart = FaceAugment()(group, share_group=False)
    assert apart.shape == group.shape
    assert not torch.allclose(apart[:, 0], apart[:, 1])
    with pytest.raises(ValueError, match="single tensor"):
        FaceAugment()(group, x, share_group=False)


def test_unbatched_images_and_grey_are_supported():
    torch.manual_seed(0)
    image = faces(1, channels=1)[0]
    a, b = FaceAugment()(image, image.clone())
    assert a.shape == (1, H, W) and torch.equal(a, b)
    assert 0.0 <= a.min() and a.max() <= 1.0 and not torch.allclose(a, image, atol=1e-3)


def test_bad_inputs_are_refused():
    augment = FaceAugment()
    with pytest.raises(TypeError, match="float"):
        augment(torch.zeros(1, 3, H, W, dtype=torch.uint8))
    with pytest.raises(ValueError, match="disagree"):
        augment(faces(2), faces(3))
    with pytest.raises(ValueError, match="unbatched"):
        augment(faces(1)[0], faces(1))
    with pytest.raises(ValueError):
        augment()


def records_with(counts: dict[str, int]) -> list[FaceRecord]:
    """``counts[e]`` records of each expression e, each with its own path."""
    return [FaceRecord(f"{e}_{i}.png", str(i), e) for e, n in counts.items() for i in range(n)]


def test_oversampling_gives_every_expression_the_largest_count_evenly():
    records = records_with({"neutral": 7, "happy": 3, "sad": 1})
    balanced = balance_expressions(records, seed=0)
    assert Counter(r.expression for r in balanced) == {"neutral": 7, "happy": 7, "sad": 7}
    copies = Counter(r.path for r in balanced)
    assert set(copies) == {r.path for r in records}  # nothing lost
    happy = [copies[f"happy_{i}.png"] for i in range(3)]
    assert sorted(happy) == [2, 2, 3]  # whole copies, then a top-up without replacement
    assert balance_expressions(records, seed=0) == balanced
    assert any(balance_expressions(records, seed=s) != balanced for s in range(1, 5))


def test_undersampling_gives_every_expression_the_smallest_count():
    records = records_with({"neutral": 7, "happy": 3, "sad": 2})
    balanced = balance_expressions(records, seed=1, mode="undersample")
    assert Counter(r.expression for r in balanced) == {"neutral": 2, "happy": 2, "sad": 2}
    assert len({r.path for r in balanced}) == 6
    assert balance_expressions(records, seed=1, mode="undersample") == balanced
    assert any(balance_expressions(records, seed=s, mode="undersample") != balanced for s in range(2, 6))
    assert balance_expressions([], seed=0) == []
    with pytest.raises(ValueError, match="mode"):
        balance_expressions(records, mode="smote")
