"""The emotion-VAE paper's augmentation and balancing (issue 13): every class brought to N samples, smaller
classes topped up with augmented copies drawn reproducibly, larger ones cut; the data module's label counts."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch.utils.data import Dataset

from facexpr.data.balance import BalancedDataset, PaperAugment, balance_plan
from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.synthetic import generate_dataset
from facexpr.training.emotion_data import EmotionDataModule


class _Crops(Dataset):
    """Labelled random crops."""

    def __init__(self, labels: list[int]):
        generator = torch.Generator().manual_seed(0)
        self.labels = labels
        self.images = torch.rand(len(labels), 3, 24, 24, generator=generator)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        return {"image": self.images[index], "label": self.labels[index]}


def test_balancing_yields_equal_counts_copies_spread_evenly_and_larger_classes_cut():
    labels = [0] * 7 + [1] * 2 + [2] * 30
    plan = balance_plan(labels, 12, seed=3)
    counts = Counter(labels[i] for i, _ in plan)
    assert counts == {0: 12, 1: 12, 2: 12}
    copies = Counter(i for i, augmented in plan if augmented)
    assert {labels[i] for i in copies} <= {0, 1} and sum(copies.values()) == 5 + 10
    for label in (0, 1):  # every original kept once, the copies spread evenly over them
        originals = [i for i, value in enumerate(labels) if value == label]
        assert [i for i, augmented in plan if not augmented and labels[i] == label] == originals
        per_item = [copies[i] for i in originals]
        assert max(per_item) - min(per_item) <= 1
    large = [i for i, _ in plan if labels[i] == 2]
    assert len(set(large)) == 12 and not any(augmented for i, augmented in plan if labels[i] == 2)
    assert balance_plan(labels, 12, seed=3) == plan and balance_plan(labels, 12, seed=4) != plan
    with pytest.raises(ValueError, match="at least 1"):
        balance_plan(labels, 0)


def test_augmented_copies_differ_from_their_crop_and_are_drawn_again_identically():
    dataset = _Crops([0] * 3 + [1] * 6)
    balanced = BalancedDataset(dataset, dataset.labels, 6, seed=1)
    assert len(balanced) == 12 and balanced.after == {0: 6, 1: 6} and balanced.before == {0: 3, 1: 6}
    for index, (source, augmented) in enumerate(balanced.plan):
        item = balanced[index]
        assert item["label"] == dataset.labels[source] and item["image"].shape == (3, 24, 24)
        if augmented:
            assert not torch.equal(item["image"], dataset.images[source])
            torch.testing.assert_close(balanced[index]["image"], item["image"])  # the same draw every epoch
            assert 0 <= float(item["image"].min()) and float(item["image"].max()) <= 1
        else:
            assert torch.equal(item["image"], dataset.images[source])


def test_the_paper_augment_flips_about_half_the_time():
    """A crop whose left and right halves differ: flipped copies swap them (p = 0.5), whatever step follows."""
    crop = torch.zeros(1, 32, 32)
    crop[:, :, :16] = 1.0
    augment = PaperAugment()
    torch.manual_seed(0)
    flipped = sum(float(augment(crop)[:, 8:24, 20:28].mean()) > 0.5 for _ in range(200))
    assert 70 < flipped < 130, flipped


def test_the_data_module_reports_counts_before_and_after(tmp_path):
    generate_dataset(tmp_path / "raw", n_subjects=6, expressions=("neutral", "happy", "sad"), size=96, seed=2)
    prepare_dataset(tmp_path / "raw", tmp_path / "prep", PrepareOptions(size=32, split_ratios=(1.0, 0.0, 0.0)))
    plain = EmotionDataModule(tmp_path / "prep", "train")
    assert plain.counts["before"] == plain.counts["after"] == {"neutral": 6, "happy": 6, "sad": 6}
    balanced = EmotionDataModule(tmp_path / "prep", "train", balance=10, min_epoch_items=64)
    assert balanced.counts["after"] == {"neutral": 10, "happy": 10, "sad": 10}
    assert len(balanced.train_set) == 90 and balanced.describe()["label_counts"] == balanced.counts
