"""Training augmentation and expression balancing, as in the emotion-VAE paper.

:class:`FaceAugment` draws a horizontal flip, a brightness/contrast jitter, a
perspective distortion and a small rotation with ``kornia.augmentation`` on
float tensors in [0, 1]. Paired training needs the *same* draw for an
expressive input and its neutral target (otherwise the model is asked to undo
a rotation it cannot see), so every tensor passed in one call shares the
parameters of its sample; a sample's N images in a (B, N, C, H, W) group share
them too unless asked otherwise. Randomness comes from torch's global
generator: ``torch.manual_seed`` makes a run repeatable, and DataLoader workers
get distinct streams.

:func:`balance_expressions` evens out the expression classes (every class to
the size of the largest by seeded oversampling, or to the smallest by
undersampling), so that a dataset with ten times more smiles than frowns does
not teach the model mostly about smiles.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Callable, Hashable, Literal, Sequence, TypeVar

import kornia.augmentation as K
import torch
from torch import nn

from facexpr.data.records import FaceRecord

T = TypeVar("T")


class FaceAugment(nn.Module):
    """Random flip, brightness/contrast, perspective and rotation for face crops.

    Args:
        flip_p: probability of a horizontal (left-right) flip.
        brightness: brightness jitter; the factor is drawn from
            [1 - brightness, 1 + brightness] (torchvision convention). 0 disables.
        contrast: contrast jitter around the image's mean grey, same convention.
        perspective: perspective distortion scale in [0, 1] (how far the corners
            may move, as a fraction of half the image). 0 disables.
        perspective_p: probability of applying the perspective distortion.
        rotation_degrees: rotation angle drawn from [-deg, +deg], always applied.

    Geometric steps fill uncovered corners with black. Outputs stay in [0, 1]:
    the jitter clamps and the warps interpolate bilinearly. Grey (C=1) and RGB (C=3) images are both supported, also mixed in
    one call (a grey target with RGB inputs gets the same draw).

    Call it on one or more float tensors, each (C, H, W) (one sample), (B, C, H, W)
    or (B, N, C, H, W) (B samples of N images). All tensors of a call must agree
    on B and on H, W. Sample b of every tensor gets the same random parameters:
    ``augment(inputs, target)`` keeps each input aligned with its target. It
    returns a tensor for one argument and a tuple for several. Use it per sample
    as a dataset ``transform`` or, faster, per batch in the training step.
    """

    def __init__(
        self,
        flip_p: float = 0.5,
        brightness: float = 0.2,
        contrast: float = 0.2,
        perspective: float = 0.2,
        perspective_p: float = 0.5,
        rotation_degrees: float = 10.0,
    ) -> None:
        super().__init__()
        steps: list[nn.Module] = []
        if flip_p > 0:
            steps.append(K.RandomHorizontalFlip(p=flip_p))
        if brightness > 0 or contrast > 0:
            steps.append(K.ColorJitter(brightness=brightness, contrast=contrast, p=1.0))
        if perspective > 0 and perspective_p > 0:
            steps.append(K.RandomPerspective(distortion_scale=perspective, p=perspective_p))
        if rotation_degrees > 0:
            steps.append(K.RandomRotation(degrees=rotation_degrees, p=1.0))
        self.pipeline = K.AugmentationSequential(*steps) if steps else None

    def forward(self, *images: torch.Tensor, share_group: bool = True) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Augment ``images`` with one random draw per sample, shared across the tensors.

        Args:
            images: float tensors in [0, 1], each (C, H, W), (B, C, H, W) or
                (B, N, C, H, W); see the class docstring.
            share_group: when False, the N images of each sample of a single
                (B, N, C, H, W) tensor get independent draws (e.g. to augment
                a bag of inputs on its own); several tensors then are an error,
                since they could not share a draw.

        Raises:
            ValueError: no tensor, a wrong rank, or tensors that disagree on
                batch size or image size.
            TypeError: a non-floating tensor (convert uint8 crops first).
        """
        if not images:
            raise ValueError("FaceAugment needs at least one tensor")
        for image in images:
            if not torch.is_floating_point(image):
                raise TypeError(f"FaceAugment expects float tensors in [0, 1], got {image.dtype}")
            if image.dim() not in (3, 4, 5):
                raise ValueError(f"FaceAugment expects (C, H, W), (B, C, H, W) or (B, N, C, H, W), got {tuple(image.shape)}")
        if not share_group:
            if len(images) != 1:
                raise ValueError("share_group=False augments a single tensor; several tensors must share a draw")
            image = images[0]
            if image.dim() == 5:
                b, n = image.shape[:2]
                return self(image.reshape(b * n, *image.shape[2:])).reshape(image.shape)
            return self(image)
        unbatched = [image.dim() == 3 for image in images]
        if any(unbatched) and not all(unbatched):
            raise ValueError("mix of unbatched (C, H, W) and batched tensors; add a batch dimension to all or none")
        # Every tensor as (B, K, C, H, W): K images per sample that share the sample's draw.
        groups = [image.reshape(1, 1, *image.shape) if flat else image.unsqueeze(1) if image.dim() == 4 else image
                  for image, flat in zip(images, unbatched)]
        batch, height, width = groups[0].shape[0], groups[0].shape[-2], groups[0].shape[-1]
        for group in groups:
            if group.shape[0] != batch or group.shape[-2:] != (height, width):
                raise ValueError(
                    "tensors disagree on batch or image size: "
                    + ", ".join(str(tuple(image.shape)) for image in images)
                )
        if self.pipeline is None:
            outputs = [image.clone() for image in images]
        else:
            params = self.pipeline.forward_parameters(torch.Size((batch, *groups[0].shape[-3:])))
            outputs = []
            for image, group in zip(images, groups):
                views = [self.pipeline(group[:, k], params=params) for k in range(group.shape[1])]
                out = torch.stack(views, dim=1)
                outputs.append(out.reshape(image.shape))
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


def balance_expressions(
    records: Sequence[T],
    seed: int = 0,
    mode: Literal["oversample", "undersample"] = "oversample",
    label: Callable[[T], Hashable] | None = None,
) -> list[T]:
    """Every expression class to the same count, as in the emotion-VAE paper.

    ``"oversample"`` brings each class up to the size of the largest: a class
    of n items is repeated whole as often as it fits and topped up with a seeded
    sample without replacement, so the numbers of copies of any two items of a
    class differ by at most one. ``"undersample"`` draws a seeded subset of every class the size of
    the smallest. The result is grouped by class in sorted label order (shuffle
    in the DataLoader).

    Args:
        records: items to balance, usually :class:`FaceRecord`.
        seed: seed of the sampling; the same seed gives the same list.
        mode: ``"oversample"`` or ``"undersample"``.
        label: the class of an item; defaults to ``item.expression``. Pass
            e.g. ``lambda pair: pair[0].expression`` to balance (input, target) pairs.

    Raises:
        ValueError: an unknown ``mode``.
    """
    if mode not in ("oversample", "undersample"):
        raise ValueError(f"mode must be 'oversample' or 'undersample', got {mode!r}")
    label = label or _expression
    classes: dict[Hashable, list[T]] = defaultdict(list)
    for item in records:
        classes[label(item)].append(item)
    if not classes:
        return []
    rng = random.Random(seed)
    sizes = [len(items) for items in classes.values()]
    count = max(sizes) if mode == "oversample" else min(sizes)
    balanced: list[T] = []
    for name in sorted(classes, key=str):
        items = classes[name]
        if mode == "undersample":
            balanced += rng.sample(items, count)
        else:
            whole, rest = divmod(count, len(items))
            balanced += items * whole + rng.sample(items, rest)
    return balanced


def _expression(record: FaceRecord) -> str:
    """The default class of :func:`balance_expressions`: the record's expression."""
    return record.expression
