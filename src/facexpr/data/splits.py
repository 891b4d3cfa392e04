"""Subject-independent train/val/test splits.

Every image of one identity, the ``(source, subject)`` pair, lands in the same
split, so no test face was seen in training. The assignment depends only on
the set of identities, the ratios and the seed, never on the order of the
records: identities are sorted, then shuffled by ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Iterable, Sequence

import numpy as np

from facexpr.data.records import FaceRecord

SPLITS = ("train", "val", "test")


def _shares(ratios: Sequence[float]) -> tuple[float, float, float]:
    """Validate train/val/test ratios and scale them to sum to 1.

    Raises:
        ValueError: not three finite, non-negative numbers with a positive sum.
    """
    values = tuple(float(r) for r in ratios)
    if len(values) != len(SPLITS):
        raise ValueError(f"expected 3 ratios (train, val, test), got {len(values)}")
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise ValueError(f"ratios must be finite and non-negative, got {', '.join(map(str, values))}")
    total = sum(values)
    if total <= 0:
        raise ValueError("at least one ratio must be positive")
    return (values[0] / total, values[1] / total, values[2] / total)


def parse_ratios(text: str) -> tuple[float, float, float]:
    """Parse ``"0.8,0.1,0.1"`` into ``(0.8, 0.1, 0.1)`` (values as written; they need not sum to 1).

    Raises:
        ValueError: not three comma-separated, finite, non-negative numbers with a positive sum.
    """
    parts = [part.strip() for part in str(text).split(",")]
    try:
        values = tuple(float(part) for part in parts)
    except ValueError:
        raise ValueError(f"expected three comma-separated numbers such as 0.7,0.15,0.15, got {text!r}") from None
    _shares(values)
    return (values[0], values[1], values[2])


def _split_sizes(n: int, shares: tuple[float, float, float]) -> list[int]:
    """Subjects per split: largest-remainder rounding, then at least one for every positive share if possible.

    A split raised from zero takes its subject from the most over-allocated split
    that keeps at least one.
    """
    exact = [share * n for share in shares]
    sizes = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(sizes)), key=lambda i: (sizes[i] - exact[i], i))
    for i in by_remainder[: n - sum(sizes)]:
        sizes[i] += 1
    positive = [i for i, share in enumerate(shares) if share > 0]
    if n >= len(positive):
        for i in positive:
            if sizes[i] == 0:
                donor = max((j for j in range(len(sizes)) if sizes[j] > 1), key=lambda j: (sizes[j] - exact[j], -j))
                sizes[donor] -= 1
                sizes[i] += 1
    return sizes


def assign_splits(
    records: Iterable[FaceRecord],
    ratios: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    only: str | None = None,
) -> list[FaceRecord]:
    """Copies of ``records`` with ``split`` set subject-independently.

    Ratios are normalised; each split with a positive ratio gets at least one
    identity when there are enough identities. ``only`` ("train", "val" or
    "test") puts every identity in that split, e.g. for a held-out test set.
    The input records are not modified.

    Raises:
        ValueError: invalid ratios (see :func:`parse_ratios`) or ``only``.
    """
    records = list(records)
    keys = sorted({r.key() for r in records})
    if only is not None:
        if only not in SPLITS:
            raise ValueError(f"only must be one of {', '.join(SPLITS)}, got {only!r}")
        split_of = dict.fromkeys(keys, only)
    else:
        sizes = _split_sizes(len(keys), _shares(ratios))
        names = [name for name, size in zip(SPLITS, sizes) for _ in range(size)]
        order = np.random.default_rng(seed).permutation(len(keys))
        split_of = {keys[i]: name for i, name in zip(order, names)}
    return [replace(r, split=split_of[r.key()]) for r in records]


def split_summary(records: Iterable[FaceRecord]) -> dict[str, dict[str, int]]:
    """``{split: {"subjects": n, "images": m}}`` for train, val, test and any other split value present."""
    records = list(records)
    names = [*SPLITS, *sorted({r.split for r in records} - set(SPLITS))]
    return {
        name: {
            "subjects": len({r.key() for r in records if r.split == name}),
            "images": sum(1 for r in records if r.split == name),
        }
        for name in names
    }
