"""Procedural faces: landmark convention, action units, determinism, anti-aliasing, dataset folders."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from facexpr.data.sidecar import (
    read_landmarks_sidecar,
    sidecar_path,
    write_landmarks_sidecar,
)
from facexpr.data.synthetic import (
    EXPRESSIONS,
    ActionUnits,
    HeadPlacement,
    Identity,
    face_landmarks,
    generate_dataset,
    identity_from_seed,
    render_face,
)
from facexpr.io import file_sha256, load_image

PERSON = identity_from_seed(1)


def _box(points: np.ndarray, pad: int, size: int) -> tuple[slice, slice]:
    """Pixel window around some landmarks."""
    x0, y0 = np.floor(points.min(0)).astype(int) - pad
    x1, y1 = np.ceil(points.max(0)).astype(int) + pad
    return slice(max(0, y0), min(size, y1)), slice(max(0, x0), min(size, x1))


def test_a_smile_lifts_and_widens_the_mouth_corners_and_changes_the_mouth():
    neutral = render_face(PERSON, ActionUnits(), size=128)
    smile = render_face(PERSON, ActionUnits(au06_12=1.0), size=128)
    lift = neutral.landmarks[[48, 54], 1] - smile.landmarks[[48, 54], 1]
    assert (lift > 2.0).all()
    assert smile.landmarks[48, 0] < neutral.landmarks[48, 0] and smile.landmarks[54, 0] > neutral.landmarks[54, 0]
    mouth = _box(neutral.landmarks[48:68], 3, 128)
    change = np.abs(smile.image[mouth].astype(int) - neutral.image[mouth].astype(int)).mean()
    assert change > 5
    assert np.array_equal(smile.image[:10, :10], neutral.image[:10, :10])  # the background is untouched


def test_neutral_renders_identical_for_the_same_identity_and_differ_for_another():
    first = render_face(PERSON, EXPRESSIONS["neutral"], size=96)
    again = render_face(identity_from_seed(1), ActionUnits(), size=96)
    other = render_face(identity_from_seed(2), ActionUnits(), size=96)
    assert first.image.dtype == np.uint8 and first.image.shape == (96, 96, 3)
    assert np.array_equal(first.image, again.image) and np.array_equal(first.landmarks, again.landmarks)
    assert np.abs(first.image.astype(int) - other.image.astype(int)).mean() > 5
    assert not np.allclose(first.landmarks, other.landmarks, atol=0.5)


@pytest.mark.parametrize("seed, expression", [(3, "neutral"), (4, "happy"), (5, "surprise"), (6, "angry"), (7, "fear")])
def test_landmarks_lie_in_the_image_and_follow_the_ibug_convention(seed, expression):
    size = 128
    pts = face_landmarks(identity_from_seed(seed), EXPRESSIONS[expression], size=size)
    assert pts.shape == (68, 2) and pts.dtype == np.float32
    assert ((pts >= 0) & (pts < size)).all()
    x, y = pts[:, 0], pts[:, 1]
    assert x[0] < x[8] < x[16] and int(np.argmax(y)) == 8  # jaw from image left, chin lowest
    assert (np.diff(x[0:9]) > 0).all() and (np.diff(x[8:17]) > 0).all()
    assert x[17] < x[21] < x[22] < x[26]  # image-left brow outer -> inner, image-right inner -> outer
    assert y[17:27].max() < y[36:48].min()  # brows above eyes
    assert y[27] < y[28] < y[29] < y[30] < y[33] and x[31] < x[33] < x[35]  # bridge down to tip, nostrils left -> right
    assert x[36] < x[37] < x[38] < x[39] < x[42] < x[43] < x[44] < x[45]  # eye corners and upper lids
    assert y[37] < y[41] and y[38] < y[40] and y[43] < y[47] and y[44] < y[46]  # upper lid above lower lid
    assert x[48] < x[51] < x[54] and y[51] < y[62] <= y[66] < y[57]  # outer lip clockwise, inner lip inside
    assert x[48] < x[60] < x[64] < x[54]
    assert y[33] < y[51] and y[57] < y[8]


def test_render_landmarks_are_the_landmark_model_and_roll_rotates_them():
    placement = HeadPlacement(roll=10.0, scale=0.95, offset_x=0.03, offset_y=-0.02)
    face = render_face(PERSON, EXPRESSIONS["sad"], size=100, placement=placement)
    assert np.array_equal(face.landmarks, face_landmarks(PERSON, EXPRESSIONS["sad"], 100, placement))
    left, right = face.landmarks[36:42].mean(0), face.landmarks[42:48].mean(0)
    assert math.degrees(math.atan2(right[1] - left[1], right[0] - left[0])) == pytest.approx(10.0, abs=1e-3)
    upright = face_landmarks(PERSON, EXPRESSIONS["sad"], 100)
    upright_distance = np.linalg.norm(upright[42:48].mean(0) - upright[36:42].mean(0))
    assert np.linalg.norm(right - left) == pytest.approx(0.95 * upright_distance, rel=1e-4)


def test_jaw_drop_lowers_the_chin_and_separates_the_inner_lips():
    neutral = face_landmarks(PERSON, ActionUnits(), size=128)
    dropped = face_landmarks(PERSON, ActionUnits(au26=1.0), size=128)
    assert neutral[66, 1] - neutral[62, 1] < 0.5  # closed lips
    assert dropped[66, 1] - dropped[62, 1] > 5
    assert dropped[8, 1] > neutral[8, 1] + 5
    assert np.allclose(dropped[[0, 16, 36, 45, 27, 30]], neutral[[0, 16, 36, 45, 27, 30]])  # only the lower face moves
    parted = face_landmarks(PERSON, ActionUnits(au25=1.0), size=128)
    assert parted[66, 1] - parted[62, 1] > 2 and parted[8, 1] == pytest.approx(neutral[8, 1])


def test_action_units_move_brows_eyelids_and_lip_corners():
    neutral = face_landmarks(PERSON, ActionUnits(), size=128)
    raised = face_landmarks(PERSON, ActionUnits(au01_02=1.0), size=128)
    lowered = face_landmarks(PERSON, ActionUnits(au04=1.0), size=128)
    frown = face_landmarks(PERSON, ActionUnits(au15=1.0), size=128)
    closed = face_landmarks(PERSON, ActionUnits(au43=1.0), size=128)
    assert (raised[17:27, 1] < neutral[17:27, 1] - 1).all()
    assert lowered[21, 1] > neutral[21, 1] + 1 and lowered[22, 0] - lowered[21, 0] < neutral[22, 0] - neutral[21, 0] - 1
    assert (frown[[48, 54], 1] > neutral[[48, 54], 1] + 1).all()
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        assert np.linalg.norm(neutral[upper] - neutral[lower]) > 2
        assert np.linalg.norm(closed[upper] - closed[lower]) < 1e-3


def test_closed_eyes_hide_the_dark_iris():
    opened = render_face(PERSON, ActionUnits(), size=128)
    closed = render_face(PERSON, ActionUnits(au43=1.0), size=128)
    eye = _box(opened.landmarks[36:42], 0, 128)
    assert closed.image[eye].mean() > opened.image[eye].mean() + 10


@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_renders_at_any_size_with_anti_aliased_edges(size):
    face = render_face(Identity(), ActionUnits(), size=size, background=(30, 30, 30))
    assert face.image.shape == (size, size, 3) and face.image.dtype == np.uint8
    assert np.allclose(face.landmarks, face_landmarks(Identity(), size=128) * size / 128, atol=1e-3)
    x, y = np.round(face.landmarks[4]).astype(int)  # jaw edge, dark background on its left
    row = face.image[y, x - 3:x + 4].astype(int).sum(axis=1)
    background, inside = row[0], row[-1]
    assert background < 100 and inside > 250
    assert len(np.unique(row)) > 2
    assert ((row > background + 30) & (row < inside - 30)).any()  # a blended pixel, not a hard step


def test_dlib_finds_the_faces_like_photos():
    dlib = pytest.importorskip("dlib")
    detector = dlib.get_frontal_face_detector()
    for seed in range(4):
        for expression in ("neutral", "happy"):
            rng = np.random.default_rng(seed)
            placement = HeadPlacement.sample(rng)
            face = render_face(identity_from_seed(seed), EXPRESSIONS[expression], size=128, placement=placement)
            (box,) = detector(face.image, 0)
            nose = face.landmarks[30]
            assert box.left() < nose[0] < box.right() and box.top() < nose[1] < box.bottom()


def test_action_units_reject_out_of_range_values():
    for bad in (-0.1, 1.5, float("nan"), "0.5", True):
        with pytest.raises(ValueError, match="au15"):
            ActionUnits(au15=bad)
    # the bounds are accepted and every number is stored as a float (1 == 1.0 alone would not tell)
    assert type(ActionUnits(au25=1).au25) is float and type(ActionUnits(au26=np.float32(0)).au26) is float
    assert ActionUnits().is_neutral and not ActionUnits(au25=1).is_neutral


def test_expression_presets_use_the_canonical_labels():
    assert set(EXPRESSIONS) == {"neutral", "happy", "sad", "surprise", "angry", "disgust", "fear"}
    assert EXPRESSIONS["neutral"] == ActionUnits()
    assert all(not aus.is_neutral for name, aus in EXPRESSIONS.items() if name != "neutral")
    assert EXPRESSIONS["happy"].au06_12 > 0.5 and EXPRESSIONS["surprise"].au26 > 0.3 and EXPRESSIONS["angry"].au04 > 0.5


def test_identities_are_seeded_and_diverse():
    people = [identity_from_seed(seed) for seed in range(40)]
    assert identity_from_seed(7) == people[7]
    assert len({p.skin_rgb for p in people}) == 40 and len({p.hair_style for p in people}) >= 3
    assert np.ptp([p.face_width for p in people]) > 0.1
    with pytest.raises(ValueError, match="hair_style"):
        replace(Identity(), hair_style="mohawk")


def test_generate_dataset_writes_the_layout_and_sidecars_that_round_trip(tmp_path):
    paths = generate_dataset(tmp_path / "a", n_subjects=2, expressions=("neutral", "happy"), size=96, seed=5, takes=2)
    expected = {f"s{s:03d}/{e}/{t}.png" for s in range(2) for e in ("neutral", "happy") for t in (1, 2)}
    assert {p.relative_to(tmp_path / "a").as_posix() for p in paths} == expected
    for path in paths:
        assert sidecar_path(path) == path.with_name(f"{path.stem}.landmarks.json")
        points = read_landmarks_sidecar(path)
        assert points.shape == (68, 2) and points.dtype == np.float32
        image = load_image(path, grey=True).astype(int)
        assert image.shape == (96, 96) and ((points >= 0) & (points < 96)).all()
        spots = (points[36:42].mean(0), points[42:48].mean(0), points[28])
        darkest = [image[_box(spot[None], 1, 96)].min() for spot in spots]
        assert max(darkest[:2]) < darkest[2] - 15  # the landmarks fit the picture: pupils there, skin on the nose
    takes = [load_image(tmp_path / "a" / "s000" / "happy" / f"{t}.png") for t in (1, 2)]
    assert not np.array_equal(*takes)
    again = generate_dataset(tmp_path / "b", n_subjects=1, expressions=("neutral", "happy"), size=96, seed=5, takes=2)
    assert [file_sha256(p) for p in again] == [file_sha256(p) for p in paths[:4]]
    with pytest.raises(ValueError, match="smirk"):
        generate_dataset(tmp_path / "c", expressions=("smirk",))


def test_landmark_sidecars_round_trip_and_bad_ones_are_ignored(tmp_path):
    image = tmp_path / "subject01.happy"
    points = np.random.default_rng(0).uniform(0, 200, (68, 2))
    written = write_landmarks_sidecar(image, points)
    assert written == tmp_path / "subject01.happy.landmarks.json" == sidecar_path(image)
    assert np.allclose(read_landmarks_sidecar(image), points, atol=1e-3)
    assert read_landmarks_sidecar(tmp_path / "missing.png") is None
    (tmp_path / "bad.landmarks.json").write_text(json.dumps({"landmarks": [[1, 2]] * 5}))
    with pytest.warns(UserWarning, match="68"):
        assert read_landmarks_sidecar(tmp_path / "bad.png") is None
    with pytest.raises(ValueError, match="68"):
        write_landmarks_sidecar(image, points[:10])
