"""The emotion-VAE paper's augmentation and balancing: every class brought to N samples.

A sample is augmented as the paper did: a horizontal flip with probability
0.5, then one of a brightness/contrast jitter, a perspective distortion or a
rotation (drawn uniformly), each one of :mod:`facexpr.data.augment`'s
:class:`FaceAugment` steps alone. A class with fewer than N crops keeps them
all and is topped up with augmented copies of its crops (each crop copied as
often as any other, give or take one); a class with more is cut to a seeded
subset of N. Copies are drawn from a seed of their own, so an epoch, a rerun
and a resumed run see the same balanced set.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, Sequence

import torch
from torch.utils.data import Dataset

from facexpr.data.augment import FaceAugment

#: The paper's flip probability.
FLIP_P = 0.5


class PaperAugment:
    """Flip with probability 0.5, then one of brightness/contrast, perspective or rotation."""

    def __init__(self) -> None:
        self.flip = FaceAugment(flip_p=FLIP_P, brightness=0, contrast=0, perspective=0, rotation_degrees=0)
        self.choices = (
            FaceAugment(flip_p=0, perspective=0, rotation_degrees=0),
            FaceAugment(flip_p=0, brightness=0, contrast=0, perspective_p=1.0, rotation_degrees=0),
            FaceAugment(flip_p=0, brightness=0, contrast=0, perspective=0),
        )

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """One augmented copy of a crop (C, H, W) in [0, 1], from torch's global generator."""
        choice = int(torch.randint(len(self.choices), ()))
        return self.choices[choice](self.flip(image))


def balance_plan(labels: Sequence[int], count: int, seed: int = 0) -> list[tuple[int, bool]]:
    """(index into ``labels``, augmented?) for ``count`` samples of every class present, grouped by class in
    label order: a smaller class keeps every item and adds augmented copies cycling through a seeded order of
    its items, a larger one is cut to a seeded subset.

    Raises:
        ValueError: ``count`` below 1.
    """
    if count < 1:
        raise ValueError(f"the number of samples per class must be at least 1, got {count}")
    rng = random.Random(seed)
    plan: list[tuple[int, bool]] = []
    for label in sorted(set(labels)):
        items = [i for i, value in enumerate(labels) if value == label]
        if len(items) >= count:
            plan += [(i, False) for i in sorted(rng.sample(items, count))]
            continue
        order = rng.sample(items, len(items))
        plan += [(i, False) for i in items] + [(order[k % len(order)], True) for k in range(count - len(items))]
    return plan


class BalancedDataset(Dataset):
    """A labelled dataset (items are dicts with ``image`` and ``label``) with ``count`` samples per class.

    Args:
        dataset: the labelled items.
        labels: each item's label, in dataset order (read without loading any image).
        count: samples per class (the paper's N).
        seed: seeds the plan and each augmented copy (copy ``k`` always gets the same draw).
    """

    def __init__(self, dataset: Dataset, labels: Sequence[int], count: int, seed: int = 0):
        self.dataset = dataset
        self.seed = seed
        self.plan = balance_plan(labels, count, seed)
        self.augment = PaperAugment()
        self.before = Counter(labels)
        self.after = Counter(labels[i] for i, _ in self.plan)

    def __len__(self) -> int:
        """Samples per class times classes."""
        return len(self.plan)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """The planned item, augmented with its own seeded draw when it is a copy."""
        source, augmented = self.plan[index]
        item = self.dataset[source]
        if not augmented:
            return item
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 1_000_003 + index)
            image = self.augment(item["image"])
        return {**item, "image": image}
