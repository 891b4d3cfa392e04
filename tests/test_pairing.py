"""Pairing prepared crops for training: references, pairs, N-shot groups, neutral sets and the torch Datasets."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facexpr.data.augment import FaceAugment
from facexpr.data.pairing import (
    NeutralFaceDataset,
    NShotDataset,
    PairDataset,
    PreparedDataset,
    expression_pairs,
    neutral_records,
    neutral_reference,
    nshot_groups,
    reference_records,
    stay_neutral_pairs,
)
from facexpr.data.records import FaceRecord, read_manifest, write_manifest
from facexpr.io import BadInputError, write_image_atomic

SIZE = 16


def rec(subject: str, expression: str, take: str = "1", source: str = "ds", split: str = "train", **meta) -> FaceRecord:
    """A record whose path names its identity, so tests can see which crop is which."""
    return FaceRecord(f"crops/{source}/{subject}/{expression}_{take}.png", subject, expression, take, source, split, meta)


def build(root: Path, records: list[FaceRecord], grey: bool = False, same_pixels: bool = False) -> PreparedDataset:
    """Write a prepared dataset: a random crop per record (one shared crop if ``same_pixels``) and the manifest."""
    rng = np.random.default_rng(0)
    shape = (SIZE, SIZE) if grey else (SIZE, SIZE, 3)
    shared = rng.integers(0, 256, shape, dtype=np.uint8)
    for r in records:
        write_image_atomic(root / r.path, shared if same_pixels else rng.integers(0, 256, shape, dtype=np.uint8))
    write_manifest(root / "manifest.csv", records)
    return PreparedDataset(root)


def two_sources() -> list[FaceRecord]:
    """Subject "01" in two datasets (only one has a neutral), a val subject and a neutral-less subject."""
    return [
        rec("01", "neutral", source="a"),
        rec("01", "happy", source="a"),
        rec("01", "sad", source="a"),
        rec("01", "happy", source="b"),  # same label, other person: must not pair with a/01's neutral
        rec("02", "neutral", source="a"),
        rec("02", "surprise", source="a"),
        rec("03", "neutral", source="a", split="val"),
        rec("03", "happy", source="a", split="val"),
    ]


# --------------------------------------------------------------------------- PreparedDataset


def test_missing_or_invalid_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(BadInputError, match="manifest.csv"):
        PreparedDataset(tmp_path)
    with pytest.raises(BadInputError, match="no such folder"):
        PreparedDataset(tmp_path / "absent")
    (tmp_path / "manifest.csv").write_text("file,label\na.png,happy\n")
    with pytest.raises(BadInputError, match=r"manifest\.csv.*lacks column"):
        PreparedDataset(tmp_path)
    (tmp_path / "manifest.csv").write_text("path,subject\n")
    with pytest.raises(BadInputError, match="no crop"):
        PreparedDataset(tmp_path)
    (tmp_path / "manifest.csv").write_bytes(b"path,subject\n\xff\xfe\xfa,1\n")
    with pytest.raises(BadInputError, match="cannot read manifest"):
        PreparedDataset(tmp_path)


def test_select_filters_split_and_expression(tmp_path):
    data = build(tmp_path, two_sources())
    assert {r.split for r in data.select("val")} == {"val"} and len(data.select("val")) == 2
    assert len(data.select(["train", "val"])) == len(data.records)
    happy = data.select("train", expressions="happiness")  # dataset labels are normalised
    assert [(r.source, r.subject) for r in happy] == [("a", "01"), ("b", "01")]
    assert data.splits == ["train", "val"]
    assert data.image_path(happy[0]) == tmp_path / "crops/a/01/happy_1.png"


def test_load_gives_float_chw_in_unit_range_for_rgb_and_grey(tmp_path):
    data = build(tmp_path / "rgb", two_sources())
    image = data.load(data.records[0])
    assert image.dtype == torch.float32 and image.shape == (3, SIZE, SIZE)
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.max() > 0.5
    pixels = np.array(Image.open(data.image_path(data.records[0])))
    assert torch.allclose(image, torch.from_numpy(pixels).permute(2, 0, 1).float() / 255)
    grey = build(tmp_path / "grey", two_sources(), grey=True)
    assert grey.load(grey.records[0]).shape == (1, SIZE, SIZE)


def test_cache_keeps_recent_crops_and_size_mismatch_is_reported(tmp_path):
    records = two_sources()
    build(tmp_path, records)
    lru = PreparedDataset(tmp_path, cache_size=2)
    first, second = lru.load(records[0]), lru.load(records[1])
    lru.load(records[0])  # used again: records[1] is now the least recently used
    lru.load(records[2])
    for r in records[:3]:
        lru.image_path(r).unlink()
    assert torch.equal(lru.load(records[0]), first)  # still cached
    with pytest.raises(BadInputError, match="no such file"):
        lru.load(records[1])  # evicted
    uncached = PreparedDataset(tmp_path)
    with pytest.raises(BadInputError, match="no such file"):
        uncached.load(records[0])
    everything = PreparedDataset(tmp_path, cache_size=None)
    everything.load(records[4])
    everything.image_path(records[4]).unlink()
    assert everything.load(records[4]).shape == second.shape
    write_image_atomic(uncached.image_path(records[3]), np.zeros((SIZE * 2, SIZE * 2, 3), np.uint8))
    uncached.load(records[5])
    with pytest.raises(BadInputError, match="32x32 but earlier crops are 16x16"):
        uncached.load(records[3])


# --------------------------------------------------------------------------- references and pairs


def test_neutral_reference_prefers_flag_then_neutrality_then_first_take():
    records = [
        rec("f", "neutral", "1", neutrality=0.99),
        rec("f", "neutral", "2", reference=True, neutrality=0.5),
        rec("s", "neutral", "1", neutrality=0.4),
        rec("s", "neutral", "2", neutrality=0.9),
        rec("t", "neutral", "10"),
        rec("t", "neutral", "2"),  # natural order: take 2 comes before take 10
        rec("x", "happy"),
    ]
    chosen = {key[1]: r.take for key, r in neutral_reference(records).items()}
    assert chosen == {"f": "2", "s": "2", "t": "2"}


def test_reference_flag_survives_the_manifest_round_trip(tmp_path):
    write_manifest(tmp_path / "manifest.csv", [rec("f", "neutral", "1"), rec("f", "neutral", "2", reference=True)])
    assert neutral_reference(read_manifest(tmp_path / "manifest.csv"))[("ds", "f")].take == "2"


def test_pairs_are_same_subject_with_a_neutral_target_and_neutral_less_subjects_are_reported():
    result = expression_pairs([r for r in two_sources() if r.split == "train"])
    pairs = {(s.source, s.subject, s.expression, t.source, t.subject, t.expression) for s, t in result}
    assert pairs == {
        ("a", "01", "happy", "a", "01", "neutral"),
        ("a", "01", "sad", "a", "01", "neutral"),
        ("a", "02", "surprise", "a", "02", "neutral"),
    }
    assert len(result) == 3 and result[0] == result.pairs[0]
    assert [(n.source, n.subject) for n in result.skipped] == [("b", "01")]
    assert str(result.skipped[0]) == "b/01: no neutral image: its 1 non-neutral crop(s) cannot be paired"


def test_pairs_in_the_synthesis_direction_and_restricted_sources():
    records = two_sources() + [rec("02", "happy", "1", source="a"), rec("02", "happy", "2", source="a")]
    synthesis = expression_pairs(records, target_expression="happy")
    assert [(s.subject, s.source, s.expression, t.expression, t.take) for s, t in synthesis] == [
        ("01", "a", "neutral", "happy", "1"),
        ("02", "a", "neutral", "happy", "1"),  # one reference target per subject: the first take
        ("03", "a", "neutral", "happy", "1"),
    ]
    assert [str(n) for n in synthesis.skipped] == ["b/01: no neutral image to pair with its happy one"]
    sad_only = expression_pairs(records, source_expressions=["sadness"])
    assert [(s.subject, s.expression) for s, _ in sad_only] == [("01", "sad")]
    assert {n.subject for n in sad_only.skipped} == {"01", "02", "03"}  # b/01 has no neutral, 02 and 03 no sad


def test_a_record_is_never_paired_with_itself():
    records = [rec("s", "neutral", "1"), rec("s", "neutral", "2", reference=True), rec("s", "happy")]
    pairs = expression_pairs(records, source_expressions=["neutral", "happy"])
    assert [(s.take, s.expression, t.take) for s, t in pairs] == [("1", "happy", "2"), ("1", "neutral", "2")]


def test_neutral_records_are_only_neutral():
    records = two_sources()
    assert neutral_records(records) == [r for r in records if r.expression == "neutral"]
    assert len(neutral_records(records)) == 3


def test_reference_records_for_another_expression():
    records = [rec("s", "happy", "3", reference="true"), rec("s", "happy", "1")]
    assert reference_records(records, "happiness")[("ds", "s")].take == "3"


# --------------------------------------------------------------------------- N-shot groups


def many_takes(expressive: int, subject: str = "s") -> list[FaceRecord]:
    """One subject with two neutral takes and ``expressive`` expressive takes."""
    moods = ["happy", "sad", "angry", "fear", "disgust", "surprise"]
    return [rec(subject, "neutral", "1"), rec(subject, "neutral", "2", neutrality=0.9)] + [
        rec(subject, moods[i % len(moods)], str(10 + i)) for i in range(expressive)
    ]


def test_nshot_groups_hold_n_distinct_inputs_of_one_subject_and_never_the_target():
    records = many_takes(6) + many_takes(5, subject="t")
    result = nshot_groups(records, shots=4, seed=1, groups_per_subject=3)
    assert len(result) == 6 and not result.skipped and not result.repeated
    for inputs, target in result:
        assert len(inputs) == 4 and len({r.path for r in inputs}) == 4
        assert {r.subject for r in inputs} == {target.subject}
        assert target.expression == "neutral" and target.take == "2"  # the most neutral
        assert all(r.expression != "neutral" for r in inputs)
    assert [[r.path for r in g] for g, _ in result] == [[r.path for r in g] for g, _ in nshot_groups(records, 4, seed=1, groups_per_subject=3)]
    draws = {tuple(r.path for r in nshot_groups(records, 4, seed=s)[0][0]) for s in range(6)}
    assert len(draws) > 1  # the seed matters


def test_nshot_subject_with_fewer_than_n_repeats_or_is_dropped():
    records = many_takes(2) + many_takes(6, subject="t") + [rec("u", "happy")]
    repeated = nshot_groups(records, shots=5)
    (inputs, target), _ = repeated.groups
    assert target.subject == "s" and len(inputs) == 5
    assert {r.take for r in inputs} == {"10", "11"}  # every distinct crop, then repeats
    assert [str(n) for n in repeated.repeated] == ["ds/s: only 2 expressive image(s) for 5 shots: some are repeated"]
    assert [str(n) for n in repeated.skipped] == ["ds/u: no neutral image: its 1 crop(s) cannot be grouped"]
    dropped = nshot_groups(records, shots=5, short="drop")
    assert [t.subject for _, t in dropped] == ["t"]
    assert "ds/s: only 2 expressive image(s), 5 needed" in [str(n) for n in dropped.skipped]
    for seed in range(10):  # all distinct crops first, whatever the draw
        (inputs, _), _ = nshot_groups(many_takes(3) + many_takes(6, subject="t"), shots=4, seed=seed)
        assert {r.take for r in inputs} == {"10", "11", "12"} and len(inputs) == 4
    with pytest.raises(ValueError):
        nshot_groups(records, shots=0)


def test_nshot_source_expressions_restrict_the_inputs_but_never_take_the_target():
    inputs, _ = nshot_groups(many_takes(6), shots=1, source_expressions="sad")[0]
    assert [r.expression for r in inputs] == ["sad"]
    for seed in range(5):
        inputs, target = nshot_groups(many_takes(1), shots=2, seed=seed, source_expressions=["neutral", "happy"])[0]
        assert target.take == "2" and {(r.expression, r.take) for r in inputs} == {("neutral", "1"), ("happy", "10")}


# --------------------------------------------------------------------------- torch Datasets


def test_neutral_dataset_returns_the_split_neutral_crops(tmp_path):
    data = build(tmp_path, two_sources())
    train = NeutralFaceDataset(data, "train")
    assert len(train) == 2 and len(NeutralFaceDataset(data, "val")) == 1 and len(NeutralFaceDataset(data, None)) == 3
    assert torch.equal(train[1], data.load(data.records[4]))
    assert train[0].shape == (3, SIZE, SIZE)
    with pytest.raises(BadInputError, match=r"no neutral crops in split 'test' \(splits present: train, val\)"):
        NeutralFaceDataset(data, "test")


def test_pair_dataset_items_and_split(tmp_path):
    data = build(tmp_path, two_sources())
    pairs = PairDataset(data, "train")
    assert len(pairs) == 3 and [str(n) for n in pairs.skipped] == ["b/01: no neutral image: its 1 non-neutral crop(s) cannot be paired"]
    item = pairs[0]
    assert item["names"] == ["crops/a/01/happy_1.png", "crops/a/01/neutral_1.png"]
    assert item["subject"] == "01" and item["source"] == "a" and item["expression"] == "happy"
    assert torch.equal(item["input"], data.load(data.records[1])) and torch.equal(item["target"], data.load(data.records[0]))
    val = PairDataset(data, "val")
    assert [p[0].subject for p in val.pairs] == ["03"]
    batch = next(iter(torch.utils.data.DataLoader(pairs, batch_size=3)))
    assert batch["input"].shape == (3, 3, SIZE, SIZE) and batch["target"].shape == (3, 3, SIZE, SIZE)
    assert 0.0 <= batch["input"].min() and batch["input"].max() <= 1.0
    synthesis = PairDataset(data, "train", target_expression="happy")
    assert synthesis[0]["names"] == ["crops/a/01/neutral_1.png", "crops/a/01/happy_1.png"]
    with pytest.raises(BadInputError, match="no pairs"):
        PairDataset(data, "val", target_expression="contempt")


def test_neutral_pairs_map_every_neutral_crop_to_its_reference_and_only_for_a_neutral_target(tmp_path):
    records = two_sources() + [rec("02", "neutral", "2", source="a", reference=True)]
    names = sorted((s.path.split("/", 1)[1], t.path.split("/", 1)[1]) for s, t in stay_neutral_pairs(records))
    assert names == [("a/01/neutral_1.png", "a/01/neutral_1.png"), ("a/02/neutral_1.png", "a/02/neutral_2.png"),
                     ("a/02/neutral_2.png", "a/02/neutral_2.png"), ("a/03/neutral_1.png", "a/03/neutral_1.png")]
    data = build(tmp_path, records)
    plain, both = PairDataset(data, "train"), PairDataset(data, "train", neutral_pairs=True)
    assert both.pairs[:len(plain.pairs)] == plain.pairs and len(both) == len(plain) + 3
    assert PairDataset(data, "train", target_expression="happy", neutral_pairs=True).pairs == \
        PairDataset(data, "train", target_expression="happy").pairs


def test_pair_dataset_balances_input_expressions(tmp_path):
    records = two_sources() + [rec("02", "happy", "2", source="a"), rec("02", "happy", "3", source="a")]
    data = build(tmp_path, records)
    counts = Counter(item[0].expression for item in PairDataset(data, "train", balance="oversample").pairs)
    assert counts == {"happy": 3, "sad": 3, "surprise": 3}
    counts = Counter(item[0].expression for item in PairDataset(data, "train", balance="undersample").pairs)
    assert counts == {"happy": 1, "sad": 1, "surprise": 1}


def test_pair_transform_keeps_input_and_target_aligned(tmp_path):
    data = build(tmp_path, two_sources(), same_pixels=True)  # input and target are the same picture
    plain = PairDataset(data, "train")[0]
    torch.manual_seed(0)
    augmented = PairDataset(data, "train", transform=FaceAugment())
    for index in range(len(augmented)):
        item = augmented[index]
        assert torch.equal(item["input"], item["target"])
        assert not torch.equal(item["input"], plain["input"])  # the augmentation did something
    mirror = PairDataset(data, "train", transform=FaceAugment(1.0, 0.0, 0.0, 0.0, 0.0, 0.0))[0]
    assert torch.equal(mirror["input"], plain["input"].flip(-1)) and torch.equal(mirror["target"], plain["target"].flip(-1))


def test_nshot_dataset_shapes_resampling_and_fixed_groups(tmp_path):
    records = many_takes(6) + many_takes(6, subject="t") + [rec("v", "neutral", split="val"), rec("v", "sad", split="val")]
    data = build(tmp_path, records)
    fixed = NShotDataset(data, "train", shots=3, seed=4, resample_each_epoch=False)
    expected = nshot_groups([r for r in records if r.split == "train"], 3, seed=4)
    assert len(fixed) == 2
    item = fixed[1]
    assert item["inputs"].shape == (3, 3, SIZE, SIZE) and item["target"].shape == (3, SIZE, SIZE)
    assert item["names"] == [r.path for r in expected[1][0]] + [expected[1][1].path]
    assert item["subject"] == "t" and item["names"][-1] == "crops/ds/t/neutral_2.png"
    assert fixed[1]["names"] == item["names"]
    assert torch.equal(item["inputs"][0], data.load(expected[1][0][0]))
    resampled = NShotDataset(data, "train", shots=3, groups_per_subject=2)
    assert len(resampled) == 4
    torch.manual_seed(0)
    draws = {tuple(resampled[0]["names"]) for _ in range(8)}
    assert len(draws) > 1 and all(names[-1] == "crops/ds/s/neutral_2.png" for names in draws)
    torch.manual_seed(0)
    assert tuple(resampled[0]["names"]) in draws  # seeded through torch
    val = NShotDataset(data, "val", shots=2)
    assert [str(n) for n in val.repeated] == ["ds/v: only 1 expressive image(s) for 2 shots: some are repeated"]
    assert val[0]["inputs"].shape == (2, 3, SIZE, SIZE)
    with pytest.raises(BadInputError, match="no subject"):
        NShotDataset(data, "val", shots=2, short="drop")


def test_nshot_transform_is_shared_by_the_inputs_and_the_target(tmp_path):
    data = build(tmp_path, many_takes(4), same_pixels=True)
    plain = data.load(data.records[0])
    torch.manual_seed(1)
    item = NShotDataset(data, "train", shots=3, transform=FaceAugment())[0]
    assert not torch.equal(item["target"], plain)
    for image in item["inputs"]:
        assert torch.equal(image, item["target"])
