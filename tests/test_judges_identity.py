"""The identity and landmark judges: score arithmetic by hand, then dlib's networks on real FRL faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facexpr.faces import FacePipeline, template_points
from facexpr.io import load_image
from facexpr.judges.geometry import (
    INNER,
    LandmarkJudge,
    crop_list,
    fixed_face_box,
    inter_ocular_distance,
    landmark_error,
)
from facexpr.judges.identity import IdentityJudge, descriptor_distances, identity_scores

#: FRL London people judged on real faces (the first ones with both photos, in id order).
PEOPLE = 20


@pytest.fixture(scope="module")
def frl_crops(frl_london):
    """128 px crops of the first :data:`PEOPLE` FRL people: ids, neutral and smiling (B, 128, 128, 3)
    arrays, and the pipeline's own landmarks of the neutral crops."""
    pipeline = FacePipeline(size=128)
    ids = sorted(
        path.stem.removesuffix("_03")
        for path in (frl_london / "neutral_front").glob("*_03.jpg")
        if (frl_london / "smiling_front" / f"{path.stem.removesuffix('_03')}_08.jpg").is_file()
    )[:PEOPLE]
    neutral = [pipeline.process(load_image(frl_london / "neutral_front" / f"{i}_03.jpg"))[0] for i in ids]
    smiling = [pipeline.process(load_image(frl_london / "smiling_front" / f"{i}_08.jpg"))[0] for i in ids]
    return {
        "ids": ids,
        "neutral": np.stack([face.image for face in neutral]),
        "smiling": np.stack([face.image for face in smiling]),
        "pipeline_landmarks": np.stack([face.landmarks for face in neutral]),
    }


@pytest.fixture(scope="module")
def identity_judge():
    return IdentityJudge()


@pytest.fixture(scope="module")
def landmark_judge():
    return LandmarkJudge()


@pytest.fixture(scope="module")
def frl_descriptors(frl_crops, identity_judge):
    """Descriptors of the neutral and smiling crops, computed once."""
    return identity_judge.descriptors(frl_crops["neutral"]), identity_judge.descriptors(frl_crops["smiling"])


# ---------------------------------------------------------------- without photos


def test_fixed_box_follows_the_template_at_every_size():
    for size in (64, 128, 256):
        x0, y0, x1, y1 = fixed_face_box(size)
        eyes = template_points(size)[:2]
        iod = eyes[1, 0] - eyes[0, 0]
        assert x1 - x0 == pytest.approx(2.22 * iod) and y1 - y0 == pytest.approx(2.22 * iod)
        assert x0 < eyes[0, 0] and eyes[1, 0] < x1 and y0 < eyes[0, 1] < (y0 + y1) / 2 < y1 <= size
    # the same face region at every size (pixel centres at integers)
    small, large = np.array(fixed_face_box(128)), np.array(fixed_face_box(256))
    np.testing.assert_allclose((small + 0.5) * 2 - 0.5, large)


def test_crop_list_accepts_batches_and_lists_and_refuses_the_rest():
    assert len(crop_list(np.zeros((3, 32, 32), np.uint8))) == 3
    assert len(crop_list([np.zeros((32, 32, 3), np.uint8), np.zeros((64, 64), np.uint8)])) == 2
    with pytest.raises(ValueError, match="wrap a single crop"):
        crop_list(np.zeros((32, 32, 3), np.uint8))  # one crop is not a batch
    with pytest.raises(ValueError, match="square"):
        crop_list([np.zeros((32, 40, 3), np.uint8)])
    with pytest.raises(TypeError, match="uint8"):
        crop_list([np.zeros((32, 32, 3), np.float32)])
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        crop_list(np.zeros((32, 32), np.uint8))


def test_inter_ocular_distance_and_landmark_error_by_hand():
    target = np.zeros((68, 2))
    target[36:42] = (0.0, 0.0)
    target[42:48] = (10.0, 0.0)
    assert inter_ocular_distance(target) == 10.0
    output = target.copy()
    output[INNER] += (3.0, 4.0)  # every inner point 5 px off
    output[:17] += 100.0  # the jaw line does not count
    assert landmark_error(output, target) == pytest.approx(0.5)
    half = target.copy()
    half[48:68] += (6.0, 8.0)  # 20 of the 51 inner points 10 px off
    errors = landmark_error(np.stack([output, half, target]), np.stack([target, target, target]))
    np.testing.assert_allclose(errors, [0.5, 20 * 10 / 51 / 10, 0.0])
    np.testing.assert_allclose(inter_ocular_distance(np.stack([target, 2 * target])), [10.0, 20.0])
    with pytest.raises(ValueError):
        landmark_error(output[:51], target[:51])


def test_identity_scores_by_hand():
    def descriptor(*values):
        d = np.zeros(128)
        d[: len(values)] = values
        return d

    gallery = np.stack([descriptor(0, 0), descriptor(1, 0), descriptor(0, 1)])
    outputs = np.stack([descriptor(0.3, 0), descriptor(0.6, 0), descriptor(0.5, 0.5), descriptor(0, 0.8)])
    keys = ["a", "a", "b", "c"]
    targets = gallery[[0, 0, 1, 2]]
    scores = identity_scores(outputs, targets, keys, gallery, ["a", "b", "c"])
    np.testing.assert_allclose(scores.distance, [0.3, 0.6, np.sqrt(0.5), 0.2])
    assert scores.same_person.tolist() == [True, True, False, True]  # 0.6 itself counts as the same person
    # output 2 is 0.4 from b but 0.6 from a; output 3 is equidistant from b and c: a tie is a miss
    assert scores.rank1.tolist() == [True, False, False, True]
    np.testing.assert_allclose(descriptor_distances(outputs[0], gallery), [[0.3, 0.7, np.hypot(0.3, 1)]])
    assert descriptor_distances(outputs, gallery).shape == (4, 3)
    with pytest.raises(ValueError, match="missing"):
        identity_scores(outputs, targets, ["a", "a", "b", "z"], gallery, ["a", "b", "c"])
    with pytest.raises(ValueError, match="unique"):
        identity_scores(outputs, targets, keys, gallery, ["a", "b", "b"])
    with pytest.raises(ValueError, match="128"):
        descriptor_distances(np.zeros((2, 64)), gallery)


def test_judges_never_need_to_find_a_face(identity_judge, landmark_judge):
    blank = np.full((2, 64, 64, 3), 128, np.uint8)
    assert landmark_judge.landmarks(blank).shape == (2, 68, 2)
    descriptors = identity_judge.descriptors(blank)
    assert descriptors.shape == (2, 128) and np.isfinite(descriptors).all()
    assert identity_judge.descriptors([]).shape == (0, 128)


# ---------------------------------------------------------------- on real faces


def test_fixed_box_landmarks_match_the_pipelines_crop_landmarks(frl_crops, landmark_judge):
    found = landmark_judge.landmarks(frl_crops["neutral"])
    errors = landmark_error(found, frl_crops["pipeline_landmarks"])
    assert errors.mean() < 0.015 and errors.max() < 0.025


def test_landmark_error_is_zero_for_itself_and_positive_for_a_smile(frl_crops, landmark_judge):
    neutral, smiling = frl_crops["neutral"], frl_crops["smiling"]
    assert np.all(landmark_judge.error(neutral, neutral) == 0.0)
    smile = landmark_judge.error(smiling, neutral)
    assert smile.min() > 0.01 and smile.mean() > 0.025


@pytest.mark.parametrize("shift", [(3, 0), (0, 3), (6, 0)])
def test_shifting_a_crop_by_k_pixels_gives_error_k_over_iod(frl_crops, landmark_judge, shift):
    neutral = frl_crops["neutral"]
    matrix = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    moved = np.stack([cv2.warpAffine(c, matrix, (128, 128), borderMode=cv2.BORDER_REPLICATE) for c in neutral])
    reference = landmark_judge.landmarks(neutral)
    errors = landmark_judge.error(moved, neutral)
    expected = np.hypot(*shift) / inter_ocular_distance(reference)
    ratio = errors / expected
    assert 0.97 < ratio.mean() < 1.06 and ratio.min() > 0.9 and ratio.max() < 1.15


def test_crop_size_does_not_change_the_verdict(frl_crops, landmark_judge, identity_judge, frl_descriptors):
    neutral = frl_crops["neutral"][:8]
    small = np.stack([cv2.resize(c, (64, 64), interpolation=cv2.INTER_AREA) for c in neutral])
    assert landmark_judge.error(small, neutral).mean() < 0.015
    # landmarks come back in the crop's own coordinates
    np.testing.assert_allclose(landmark_judge.landmarks(small) * 2 + 0.5, landmark_judge.landmarks(neutral), atol=2.5)
    distance = np.linalg.norm(identity_judge.descriptors(small) - frl_descriptors[0][:8], axis=1)
    assert distance.max() < 0.4


def test_same_person_neutral_and_smiling_are_nearer_than_two_people(frl_descriptors):
    neutral, smiling = frl_descriptors
    distances = descriptor_distances(smiling, neutral)
    same = np.diag(distances)
    different = distances[~np.eye(len(same), dtype=bool)]
    assert np.mean(same < 0.6) >= 0.9
    assert same.mean() < 0.35 < 0.7 < different.mean()
    others = np.where(np.eye(len(same), dtype=bool), np.nan, distances)
    assert np.all(same < np.nanmedian(others, axis=1))


def test_rank1_is_high_for_smiles_and_chance_for_one_shared_mean_face(frl_crops, frl_descriptors, identity_judge):
    neutral, smiling = frl_descriptors
    ids = frl_crops["ids"]
    scores = identity_scores(smiling, neutral, ids, neutral, ids)
    assert scores.rank1.mean() >= 0.9 and scores.same_person.mean() >= 0.9
    mean_face = np.rint(frl_crops["neutral"].astype(np.float64).mean(axis=0)).astype(np.uint8)
    shared = np.repeat(identity_judge.descriptors([mean_face]), len(ids), axis=0)
    average = identity_scores(shared, neutral, ids, neutral, ids)
    assert average.rank1.sum() == 1  # the one person the average face is nearest to: chance, 1 / PEOPLE
    assert average.distance.mean() > scores.distance.mean() + 0.2
