"""Subject-independent, seeded, order-independent train/val/test splits."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from facexpr.data.records import FaceRecord
from facexpr.data.splits import assign_splits, parse_ratios, split_summary


def _records(n_subjects: int, per_subject: int = 3, source: str = "fake") -> list[FaceRecord]:
    return [
        FaceRecord(f"/data/{source}/s{s:02d}/{i}.png", f"s{s:02d}", "neutral" if i == 0 else "happy", str(i), source)
        for s in range(n_subjects)
        for i in range(per_subject)
    ]


def _split_of(records: list[FaceRecord]) -> dict[tuple[str, str], str]:
    """Identity -> split, failing when an identity is in two splits."""
    mapping: dict[tuple[str, str], str] = {}
    for r in records:
        assert mapping.setdefault(r.key(), r.split) == r.split, f"{r.key()} is in two splits"
    return mapping


def _sizes(records: list[FaceRecord]) -> Counter:
    return Counter(_split_of(records).values())


def test_every_subject_is_in_exactly_one_split():
    split = assign_splits(_records(20), seed=3)
    assert len(split) == 60
    assert set(_split_of(split).values()) == {"train", "val", "test"}
    assert len(_split_of(split)) == 20


def test_same_subject_name_in_two_sources_is_two_identities():
    records = _records(10, source="a") + _records(10, source="b")
    mapping = _split_of(assign_splits(records, seed=1))
    assert len(mapping) == 20
    assert any(mapping[("a", s)] != mapping[("b", s)] for s in (f"s{i:02d}" for i in range(10)))


def test_deterministic_for_a_seed_and_independent_of_record_order():
    records = _records(30)
    shuffled = records[:]
    random.Random(5).shuffle(shuffled)
    first = _split_of(assign_splits(records, seed=7))
    assert _split_of(assign_splits(records, seed=7)) == first
    assert _split_of(assign_splits(shuffled, seed=7)) == first
    assert _split_of(assign_splits(records, seed=8)) != first


def test_output_keeps_input_order_and_does_not_mutate():
    records = _records(6)
    split = assign_splits(records, seed=0)
    assert [r.path for r in split] == [r.path for r in records]
    assert all(r.split == "" for r in records)
    assert all(r.split for r in split)


@pytest.mark.parametrize(
    ("n", "ratios", "expected"),
    [
        (20, (0.7, 0.15, 0.15), {"train": 14, "val": 3, "test": 3}),
        (20, (7, 1.5, 1.5), {"train": 14, "val": 3, "test": 3}),  # ratios are normalised
        (10, (0.5, 0.25, 0.25), {"train": 5, "val": 3, "test": 2}),  # largest remainder, ties to the earlier split
        (100, (0.8, 0.1, 0.1), {"train": 80, "val": 10, "test": 10}),
        (3, (0.9, 0.05, 0.05), {"train": 1, "val": 1, "test": 1}),  # every positive split gets a subject
        (5, (1, 0, 0), {"train": 5}),
        (8, (0.5, 0, 0.5), {"train": 4, "test": 4}),
        (5, (0.6, 0.3, 0.1), {"train": 3, "val": 1, "test": 1}),  # test's subject comes from the rounded-up val
        (2, (0.7, 0.15, 0.15), {"train": 2}),  # too few subjects for three splits: plain rounding
    ],
)
def test_ratios_are_respected(n, ratios, expected):
    assert _sizes(assign_splits(_records(n), ratios=ratios, seed=2)) == expected


def test_ratios_within_rounding_for_many_sizes():
    for n in range(3, 60):
        sizes = _sizes(assign_splits(_records(n, per_subject=1), ratios=(0.6, 0.3, 0.1), seed=n))
        for name, share in (("train", 0.6), ("val", 0.3), ("test", 0.1)):
            assert abs(sizes[name] - share * n) < 1 or sizes[name] == 1, (n, sizes)
        assert sum(sizes.values()) == n


def test_only_puts_every_subject_in_one_split():
    split = assign_splits(_records(5), only="test")
    assert {r.split for r in split} == {"test"}
    with pytest.raises(ValueError, match="only must be one of train, val, test"):
        assign_splits(_records(5), only="holdout")


def test_no_records_gives_no_records():
    assert assign_splits([], seed=0) == []


@pytest.mark.parametrize("ratios", [(0.5, 0.5), (0, 0, 0), (-0.1, 0.6, 0.5), (float("nan"), 1, 1)])
def test_invalid_ratios_are_refused(ratios):
    with pytest.raises(ValueError, match="ratio"):
        assign_splits(_records(5), ratios=ratios)


def test_parse_ratios():
    assert parse_ratios("0.8,0.1,0.1") == (0.8, 0.1, 0.1)
    assert parse_ratios(" 70, 15 ,15 ") == (70.0, 15.0, 15.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.8,0.2", "expected 3 ratios"),
        ("a,b,c", "expected three comma-separated numbers such as 0.7,0.15,0.15, got 'a,b,c'"),
        ("", "expected three comma-separated numbers"),
        ("0.8,-0.1,0.3", "non-negative"),
        ("0,0,0", "at least one ratio must be positive"),
        ("inf,1,1", "finite"),
    ],
)
def test_parse_ratios_errors_are_clear(text, message):
    with pytest.raises(ValueError, match=message):
        parse_ratios(text)


def test_split_summary_counts_subjects_and_images():
    records = assign_splits(_records(20, per_subject=3), seed=4)
    summary = split_summary(records)
    assert summary == {
        "train": {"subjects": 14, "images": 42},
        "val": {"subjects": 3, "images": 9},
        "test": {"subjects": 3, "images": 9},
    }
    assert split_summary(_records(2, per_subject=2)) == {
        "train": {"subjects": 0, "images": 0},
        "val": {"subjects": 0, "images": 0},
        "test": {"subjects": 0, "images": 0},
        "": {"subjects": 2, "images": 4},
    }
