"""``prepare``: synthetic and real folders -> aligned crops, manifest, skip list, splits, cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.records import read_manifest, read_skips
from facexpr.data.synthetic import generate_dataset
from facexpr.faces import template_points
from facexpr.io import load_image


@pytest.fixture(scope="module")
def synthetic_raw(tmp_path_factory):
    """Six synthetic people, neutral and happy, at 160 px."""
    root = tmp_path_factory.mktemp("raw")
    generate_dataset(root, n_subjects=6, expressions=("neutral", "happy"), size=160, seed=3)
    return root


def _eye_centres(landmarks: np.ndarray) -> np.ndarray:
    return np.stack([landmarks[36:42].mean(0), landmarks[42:48].mean(0)])


def test_synthetic_folder_is_aligned_split_and_cached(synthetic_raw, tmp_path):
    out = tmp_path / "prepared"
    result = prepare_dataset(synthetic_raw, out, PrepareOptions(size=64, seed=1))
    assert result.summary["aligned"] == 12 and not result.skipped
    records = read_manifest(out / "manifest.csv")
    assert len(records) == 12
    for record in records:
        crop = load_image(out / record.path)
        assert crop.shape == (64, 64, 3)
        eyes = _eye_centres(np.asarray(record.meta["landmarks"]))
        assert np.abs(eyes - template_points(64)[:2]).max() < 1.0
    # subject-independent split: each subject in exactly one split, all three splits used
    splits = {}
    for record in records:
        splits.setdefault(record.subject, set()).add(record.split)
    assert all(len(s) == 1 for s in splits.values())
    assert {s for v in splits.values() for s in v} == {"train", "val", "test"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["expressions"] == {"happy": 6, "neutral": 6}

    # a second run re-aligns nothing and leaves the crops untouched
    stamps = {r.path: (out / r.path).stat().st_mtime_ns for r in records}
    again = prepare_dataset(synthetic_raw, out, PrepareOptions(size=64, seed=1))
    assert again.summary["reused_from_cache"] == 12
    assert {r.path: (out / r.path).stat().st_mtime_ns for r in again.records} == stamps
    assert [(r.path, r.split) for r in again.records] == [(r.path, r.split) for r in records]


def test_grey_crops_and_other_size_are_not_served_from_the_rgb_cache(synthetic_raw, tmp_path):
    out = tmp_path / "prepared"
    prepare_dataset(synthetic_raw, out, PrepareOptions(size=64))
    grey = prepare_dataset(synthetic_raw, out, PrepareOptions(size=32, grey=True))
    assert grey.summary["reused_from_cache"] == 0
    assert load_image(out / grey.records[0].path, grey=True).shape == (32, 32)
    assert Image.open(out / grey.records[0].path).mode == "L"


def test_interrupted_run_resumes_without_redoing_work(synthetic_raw, tmp_path):
    out = tmp_path / "prepared"

    def stop_after_five(done, total, item):
        if done > 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(synthetic_raw, out, PrepareOptions(size=64), progress=stop_after_five)
    assert not (out / "manifest.csv").exists()
    resumed = prepare_dataset(synthetic_raw, out, PrepareOptions(size=64))
    assert resumed.summary["reused_from_cache"] == 5
    assert resumed.summary["aligned"] == 12


def test_bad_files_and_subjects_without_neutral_are_reported(synthetic_raw, tmp_path):
    raw = tmp_path / "raw"
    generate_dataset(raw, n_subjects=3, expressions=("neutral", "happy"), size=128, seed=5)
    subject = sorted(p.name for p in raw.iterdir())[0]
    (raw / subject / "happy" / "notes.png").write_text("not pixels")
    good = (raw / subject / "neutral" / "1.png").read_bytes()
    (raw / subject / "happy" / "cut.png").write_bytes(good[: len(good) // 3])
    blank = raw / "nobody" / "happy"
    blank.mkdir(parents=True)
    Image.new("RGB", (128, 128), (90, 120, 150)).save(blank / "1.png")  # no face, and no neutral image
    out = tmp_path / "prepared"
    result = prepare_dataset(raw, out, PrepareOptions(size=64))
    reasons = {s.path.split("/")[-1] or s.subject: s.reason for s in read_skips(out / "skipped.csv")}
    assert "not an image" in reasons["notes.png"]
    assert "truncated" in reasons["cut.png"] or "cannot decode" in reasons["cut.png"]
    assert reasons["1.png"].startswith("no face found")
    assert result.summary["aligned"] == 6
    assert all("\n" not in r for r in reasons.values())


def test_subject_without_neutral_is_listed(tmp_path):
    raw = tmp_path / "raw"
    generate_dataset(raw, n_subjects=2, expressions=("neutral", "happy"), size=128, seed=7)
    lonely = sorted(p for p in raw.iterdir())[0]
    for file in (lonely / "neutral").iterdir():
        file.unlink()
    (lonely / "neutral").rmdir()
    result = prepare_dataset(raw, tmp_path / "prepared", PrepareOptions(size=64))
    assert [s.subject for s in result.skipped] == [lonely.name]
    assert "no neutral image" in result.skipped[0].reason


def test_held_out_split_puts_every_subject_in_test(synthetic_raw, tmp_path):
    result = prepare_dataset(synthetic_raw, tmp_path / "p", PrepareOptions(size=64, split_only="test"))
    assert {r.split for r in result.records} == {"test"}


@pytest.mark.slow
def test_frl_london_aligns_all_photos_with_eyes_on_the_template(frl_london, tmp_path):
    result = prepare_dataset(frl_london, tmp_path / "frl", PrepareOptions(size=128))
    assert result.summary["format"] == "frl_london"
    assert result.summary["aligned"] == 164, [s.reason for s in result.skipped]
    errors = [r.meta["eye_error"] for r in result.records]
    assert max(errors) < 2.0
    for record in result.records[:10]:
        eyes = _eye_centres(np.asarray(record.meta["landmarks"]))
        assert np.abs(eyes - template_points(128)[:2]).max() < 2.0


@pytest.mark.slow
def test_yale_aligns_or_explains_every_image(yalefaces, tmp_path):
    result = prepare_dataset(yalefaces, tmp_path / "yale", PrepareOptions(size=128))
    image_skips = [s for s in result.skipped if s.path]
    assert result.summary["aligned"] + len(image_skips) == 164
    assert all(s.reason for s in image_skips)
    assert max(r.meta["eye_error"] for r in result.records) < 2.0
    subject04 = {r.meta.get("label", r.expression) for r in result.records if r.subject.endswith("04")}
    assert "sad" not in subject04


def test_a_jaffe_folder_of_grey_jpg_files_is_aligned_whole(tmp_path):
    """JAFFE as commonly redistributed: grey .jpg files named ``KA.HA1.29.jpg``. Every photo is read as JAFFE
    (subject, expression from the code) and aligned; none is skipped."""
    from facexpr.data.synthetic import EXPRESSIONS, identity_from_seed, render_face

    codes = {"NE": "neutral", "HA": "happy", "SU": "surprise", "AN": "angry"}
    raw = tmp_path / "jaffe"
    raw.mkdir()
    for index, subject in enumerate(("KA", "KM", "NA")):
        identity = identity_from_seed(40 + index)
        for take, (code, expression) in enumerate(codes.items()):
            face = render_face(identity, EXPRESSIONS[expression], 256)
            Image.fromarray(face.image).convert("L").save(raw / f"{subject}.{code}{take + 1}.{20 + take}.jpg", quality=92)
    prepare_dataset(raw, tmp_path / "out", PrepareOptions(size=64))
    records = read_manifest(tmp_path / "out" / "manifest.csv")
    assert len(records) == 12 and not read_skips(tmp_path / "out" / "skipped.csv")
    assert {r.source for r in records} == {"jaffe"}
    assert {(r.subject, r.expression) for r in records} == {(s, e) for s in ("KA", "KM", "NA") for e in codes.values()}
