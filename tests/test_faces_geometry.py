"""Face geometry without photos: similarity fit, rotations, head pose, cues, scores, model files."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from facexpr.faces import (
    ExpressionCues,
    HeadPose,
    estimate_head_pose,
    expression_cues,
    face_mask,
    frontality_score,
    model_file,
    neutrality_score,
    reference_cues,
    rotation_matrix,
    similarity_transform,
    template_points,
)
from facexpr.faces.align import alignment_matrix, transform_points
from facexpr.faces.detect import rotate_image, unrotate_points
from facexpr.faces.models import FACE_DESCRIPTOR, LANDMARKS_68
from facexpr.faces.pose import (
    MODEL_INDICES,
    MODEL_POINTS,
    camera_matrix,
    pose_from_rotation,
)


def _similarity(angle_degrees, scale, tx, ty):
    a = math.radians(angle_degrees)
    return np.array([[scale * math.cos(a), -scale * math.sin(a), tx], [scale * math.sin(a), scale * math.cos(a), ty]])


def test_similarity_fit_recovers_a_known_transform_for_any_weights():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 300, size=(5, 2))
    truth = _similarity(-23.0, 0.37, 12.0, -4.5)
    dst = transform_points(src, truth)
    for weights in (None, [1, 1, 0.05, 0.05, 0.05], [0.2, 3, 1, 0, 1]):
        np.testing.assert_allclose(similarity_transform(src, dst, weights), truth, atol=1e-9)


def test_similarity_fit_never_reflects_and_weights_pull_points_home():
    src = np.array([[0.0, 0.0], [10.0, 0.0], [5.0, 5.0], [2.0, 9.0], [8.0, 9.0]])
    mirrored = src * [-1, 1]
    matrix = similarity_transform(src, mirrored)
    assert np.linalg.det(matrix[:, :2]) >= 0
    noisy = src + [[0, 0], [0, 0], [3, 1], [-2, 2], [1, -3]]
    heavy_eyes = similarity_transform(src, noisy, [1, 1, 0.01, 0.01, 0.01])
    uniform = similarity_transform(src, noisy)
    err = lambda m: np.linalg.norm(transform_points(src[:2], m) - noisy[:2], axis=1).max()  # noqa: E731
    assert err(heavy_eyes) < 0.2 < err(uniform)


def test_alignment_caps_the_eye_error_when_nose_and_mouth_disagree():
    landmarks = np.zeros((68, 2))
    template = template_points(200)
    landmarks[36:42], landmarks[42:48] = template[0], template[1]
    landmarks[30] = template[2] + [0, 40]  # a nose far below where the template wants it
    landmarks[48], landmarks[54] = template[3] + [-30, 50], template[4] + [30, 50]
    matrix = alignment_matrix(landmarks, 200, weights=(1, 1, 1, 1, 1), max_eye_error=0.005)
    eyes = transform_points(np.stack([landmarks[36], landmarks[42]]), matrix)
    assert np.linalg.norm(eyes - template[:2], axis=1).max() <= 1.0
    loose = alignment_matrix(landmarks, 200, weights=(1, 1, 1, 1, 1), max_eye_error=1.0)
    loose_eyes = transform_points(np.stack([landmarks[36], landmarks[42]]), loose)
    assert np.linalg.norm(loose_eyes - template[:2], axis=1).max() > 5


def test_template_is_the_same_face_region_at_every_size():
    for size in (32, 64, 128, 256, 300):
        points = template_points(size)
        np.testing.assert_allclose((points + 0.5) / size, (template_points(128) + 0.5) / 128)
    left, right, nose, mouth_left, mouth_right = template_points(128)
    assert left[1] == right[1] and left[0] < nose[0] < right[0] and nose[0] == pytest.approx(63.5)
    assert left[1] < nose[1] < mouth_left[1] == mouth_right[1] < 127


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_unrotate_points_undoes_rotate_image(rotation):
    image = np.zeros((30, 50), np.uint8)
    image[7, 41] = 255  # x = 41, y = 7
    rotated = rotate_image(image, rotation)
    ys, xs = np.nonzero(rotated)
    back = unrotate_points(np.array([[xs[0], ys[0]]], float), rotation, width=50, height=30)
    np.testing.assert_array_equal(back, [[41, 7]])


def _project_model(pose: HeadPose, width=640, height=480) -> np.ndarray:
    """68 landmarks of the generic model under a head pose (eye centres from the eye corners)."""
    rvec, _ = cv2.Rodrigues(rotation_matrix(pose.yaw, pose.pitch, pose.roll))
    projected, _ = cv2.projectPoints(MODEL_POINTS, rvec, np.array([0.3, -0.2, 7.0]), camera_matrix(width, height), None)
    landmarks = np.zeros((68, 2))
    landmarks[MODEL_INDICES] = projected[:, 0]
    landmarks[36:42] = (landmarks[36] + landmarks[39]) / 2
    landmarks[42:48] = (landmarks[42] + landmarks[45]) / 2
    return landmarks


@pytest.mark.parametrize("yaw, pitch, roll", [(0, 0, 0), (25, -10, 5), (-35, 15, -30), (10, 20, 90), (-5, 5, 180)])
def test_head_pose_recovers_a_known_rotation(yaw, pitch, roll):
    pose = estimate_head_pose(_project_model(HeadPose(yaw, pitch, roll)), (640, 480))
    assert pose.yaw == pytest.approx(yaw, abs=1.0)
    assert pose.pitch == pytest.approx(pitch, abs=1.0)
    assert abs((pose.roll - roll + 180) % 360 - 180) < 1.0


def test_head_pose_sign_convention_matches_the_image():
    def nose_offset(pose):
        lm = _project_model(pose)
        eyes = (lm[36] + lm[42]) / 2
        return lm[30] - eyes
    assert nose_offset(HeadPose(30, 0, 0))[0] > 5  # turned toward the image's right: nose tip moves right
    assert nose_offset(HeadPose(-30, 0, 0))[0] < -5
    up, down = nose_offset(HeadPose(0, 25, 0))[1], nose_offset(HeadPose(0, -25, 0))[1]
    assert up < down  # looking up: the nose tip rises toward the eyes
    tilted = _project_model(HeadPose(0, 0, 15))
    assert tilted[42, 1] > tilted[36, 1]  # positive roll: the image-right eye is lower
    np.testing.assert_allclose(
        [getattr(pose_from_rotation(rotation_matrix(12, -7, 33)), k) for k in ("yaw", "pitch", "roll")], [12, -7, 33]
    )


def test_frontality_falls_with_yaw_and_pitch_but_not_roll():
    assert frontality_score(HeadPose(0, 0, 0)) == 1.0
    assert frontality_score(HeadPose(0, 0, 40)) == 1.0
    assert frontality_score(HeadPose(20, 0, 0)) == pytest.approx(math.exp(-0.5))
    turned, nodding, away = HeadPose(10, 0, 0), HeadPose(10, 10, 0), HeadPose(45, 10, 0)
    assert frontality_score(turned) > frontality_score(nodding) > frontality_score(away)


def _face(mouth_gap=0.0, corner_lift=-0.03, brow=0.32, eye=0.12, mouth_half_width=0.40):
    """Synthetic 68 points in IOD units (eye centres at (+-0.5, 0)), then scaled, rotated and moved."""
    lm = np.zeros((68, 2))
    for side, first in ((-1, 36), (1, 42)):
        centre = np.array([0.5 * side, 0.0])
        lid = eye / 2
        lm[first:first + 6] = centre + [[-0.2, 0], [-0.07, -lid], [0.07, -lid], [0.2, 0], [0.07, lid], [-0.07, lid]]
    lm[17:22] = np.column_stack([np.linspace(-0.9, -0.2, 5), np.full(5, -brow)])
    lm[22:27] = np.column_stack([np.linspace(0.2, 0.9, 5), np.full(5, -brow)])
    line = 1.05
    lm[[61, 62, 63]] = np.column_stack([[-0.1, 0, 0.1], np.full(3, line - mouth_gap / 2)])
    lm[[67, 66, 65]] = np.column_stack([[-0.1, 0, 0.1], np.full(3, line + mouth_gap / 2)])
    lm[48], lm[54] = [-mouth_half_width, line - corner_lift], [mouth_half_width, line - corner_lift]
    lm[30] = [0, 0.5]
    angle = math.radians(20)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return lm @ rot.T * 80 + [300, 200]


def test_cues_measure_the_face_in_inter_ocular_units_whatever_its_roll_and_size():
    cues = expression_cues(_face(mouth_gap=0.2, corner_lift=0.05, brow=0.4, eye=0.1, mouth_half_width=0.45))
    assert cues.mouth_open == pytest.approx(0.2, abs=1e-9)
    assert cues.lip_corner_lift == pytest.approx(0.05, abs=1e-9)
    assert cues.brow_raise == pytest.approx(0.4, abs=1e-9)
    assert cues.eye_open == pytest.approx(0.1, abs=1e-9)
    assert cues.mouth_width == pytest.approx(0.9, abs=1e-9)
    assert expression_cues(_face(corner_lift=-0.08)).lip_corner_lift == pytest.approx(-0.08)


def test_absolute_neutrality_wants_a_closed_relaxed_mouth():
    neutral = neutrality_score(expression_cues(_face()))
    assert neutral > 0.95
    assert neutrality_score(expression_cues(_face(corner_lift=0.06))) < 0.3  # smile
    assert neutrality_score(expression_cues(_face(corner_lift=-0.12))) < 0.3  # corners pulled down
    assert neutrality_score(expression_cues(_face(mouth_gap=0.2))) < 0.2  # open mouth
    assert neutrality_score(expression_cues(_face(mouth_half_width=0.5))) < 0.5  # stretched lips
    # brows and eyes differ between people: they do not change the absolute score
    assert neutrality_score(expression_cues(_face(brow=0.45, eye=0.05))) == pytest.approx(neutral)


def test_relative_neutrality_compares_every_cue_with_the_persons_reference():
    frames = [expression_cues(_face(brow=0.45 + d, eye=0.06)) for d in (-0.005, 0.0, 0.004)]
    frames.append(expression_cues(_face(brow=0.6, eye=0.06, corner_lift=0.1)))  # one expressive frame
    reference = reference_cues(frames)
    assert reference.brow_raise == pytest.approx(0.452, abs=1e-9)  # the median ignores the outlier
    usual = expression_cues(_face(brow=0.45, eye=0.06))
    assert neutrality_score(usual, reference) > 0.9
    assert neutrality_score(expression_cues(_face(brow=0.55, eye=0.06)), reference) < 0.1  # raised brows
    assert neutrality_score(expression_cues(_face(brow=0.45, eye=0.12)), reference) < 0.2  # eyes wide open
    with pytest.raises(ValueError):
        reference_cues([])
    assert isinstance(reference, ExpressionCues)


def test_face_mask_is_soft_and_covers_the_template_face():
    mask = face_mask(128)
    assert mask.shape == (128, 128) and mask.dtype == np.float32
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    for x, y in template_points(128).round().astype(int):
        assert mask[y, x] > 0.95
    assert mask[0, 0] == 0 and mask[127, 0] == 0 and mask[0, 127] == 0
    assert ((mask > 0.05) & (mask < 0.95)).sum() > 500  # a wide feathered band


def test_model_files_are_found_and_a_missing_one_names_the_package():
    for name in (LANDMARKS_68, FACE_DESCRIPTOR):
        path = model_file(name)
        assert path.is_file() and path.stat().st_size > 1_000_000
    with pytest.raises(FileNotFoundError, match="pip install face_recognition_models"):
        model_file("no_such_model.dat")
