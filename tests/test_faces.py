"""The face pipeline on the real-face folders: detection, alignment, rotations, EXIF, Haar, several faces, scores."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from facexpr.faces import (
    FacePipeline,
    align_face,
    detect,
    detect_faces,
    neutrality_score,
    paste_back,
    reference_cues,
    template_points,
)
from facexpr.faces.align import eye_centres
from facexpr.io import load_image


def _yale_files(yalefaces):
    return sorted(p for p in yalefaces.iterdir() if p.name.startswith("subject"))


def _iod(landmarks):
    left, right = eye_centres(landmarks)
    return float(np.linalg.norm(right - left))


@pytest.fixture(scope="module")
def pipeline():
    return FacePipeline(size=128)


@pytest.fixture(scope="module")
def frl_aligned(frl_london, pipeline):
    """Every FRL London photo aligned at 128 px: {(person, "neutral"|"smiling"): AlignedFace or None}."""
    out = {}
    for kind, folder, suffix in (("neutral", "neutral_front", "_03"), ("smiling", "smiling_front", "_08")):
        for path in sorted((frl_london / folder).glob("*.jpg")):
            faces = pipeline.process(load_image(path))
            out[(path.stem.removesuffix(suffix), kind)] = faces[0] if faces else None
    return out


@pytest.fixture(scope="module")
def yale_aligned(yalefaces, pipeline):
    """Every Yale image aligned at 128 px: {file name: AlignedFace or None}."""
    out = {}
    for path in _yale_files(yalefaces):
        faces = pipeline.process(load_image(path))
        out[path.name] = faces[0] if faces else None
    return out


def test_every_frl_photo_is_aligned_with_eyes_on_the_template(frl_aligned):
    assert len(frl_aligned) == 164
    assert [key for key, face in frl_aligned.items() if face is None] == []
    assert {face.face.detector for face in frl_aligned.values()} == {"dlib-hog"}  # no upsampling when not needed
    template_eyes = template_points(128)[:2]
    for face in frl_aligned.values():
        assert face.image.shape == (128, 128, 3) and face.image.dtype == np.uint8
        assert face.eye_error < 2.0
        distances = np.linalg.norm(eye_centres(face.landmarks) - template_eyes, axis=1)
        assert distances.max() == pytest.approx(face.eye_error, abs=1e-3)
        # nose and mouth follow the template too (alignment is not eyes-only nonsense)
        assert np.linalg.norm(face.landmarks[30] - template_points(128)[2]) < 12
        # the whole face, brows to chin, lies inside the crop
        assert face.landmarks[:, 1].min() > 10 and face.landmarks[8, 1] < 127.5


def test_every_yale_image_is_aligned_including_harsh_light(yale_aligned):
    assert len(yale_aligned) == 164
    assert [name for name, face in yale_aligned.items() if face is None] == []
    assert max(face.eye_error for face in yale_aligned.values()) < 2.0
    detectors = {name: face.face.detector for name, face in yale_aligned.items()}
    assert detectors["subject08.rightlight"] == "haar"  # HOG misses this one even upsampled
    assert detectors["subject11.leftlight"] == "dlib-hog-up1"  # found once the image is upsampled
    assert set(detectors.values()) <= {"dlib-hog", "dlib-hog-up1", "haar"}
    assert all(face.face.rotation == 0 for face in yale_aligned.values())


def test_haar_fallback_landmarks_are_usable(yalefaces):
    image = load_image(yalefaces / "subject08.rightlight")
    assert FacePipeline(haar_fallback=False, try_rotations=False).process(image) == []
    (face,) = FacePipeline(size=128, try_rotations=False).process(image)
    assert face.face.detector == "haar" and face.eye_error < 2.0
    template = template_points(128)
    # landmarks predicted from a Haar box still find nose and mouth, not just any 68 points
    assert np.linalg.norm(face.landmarks[30] - template[2]) < 10
    assert np.linalg.norm(face.landmarks[[48, 54]] - template[3:], axis=1).max() < 12


def test_haar_boxes_give_the_same_landmarks_as_hog_boxes(frl_london, yalefaces, monkeypatch):
    files = sorted((frl_london / "neutral_front").glob("*.jpg"))[:40:5] + sorted(yalefaces.glob("subject0*.normal"))
    images = [load_image(path) for path in files]
    with_hog = [detect_faces(image, try_rotations=False)[0] for image in images]
    monkeypatch.setattr(detect, "_hog_boxes", lambda *args: [])  # force HOG off
    errors = []
    for image, reference in zip(images, with_hog):
        (face,) = detect_faces(image, try_rotations=False)
        assert face.detector == "haar"
        errors.append(np.abs(face.landmarks - reference.landmarks).mean() / _iod(reference.landmarks))
    assert np.mean(errors) < 0.01 and max(errors) < 0.02


def test_no_face_gives_an_empty_list_and_a_reason():
    pipeline = FacePipeline()
    blank = np.full((120, 160, 3), 128, np.uint8)
    assert pipeline.process(blank) == []
    reason = pipeline.describe_search()
    assert "HOG" in reason and "Haar" in reason and "90" in reason and "160x120" in reason and "\n" not in reason
    assert "Haar" not in FacePipeline(haar_fallback=False).describe_search()


@pytest.mark.parametrize(
    "turn, needed", [(cv2.ROTATE_90_CLOCKWISE, 270), (cv2.ROTATE_180, 180), (cv2.ROTATE_90_COUNTERCLOCKWISE, 90)]
)
def test_rotated_photo_is_found_and_landmarks_map_back(frl_london, turn, needed):
    upright = cv2.resize(load_image(frl_london / "neutral_front" / "012_03.jpg"), (400, 340))
    pipeline = FacePipeline(size=96)
    (reference,) = pipeline.process(upright)
    rotated = cv2.rotate(upright, turn)
    (found,) = pipeline.process(rotated)
    assert found.face.rotation == needed
    # map the found landmarks from the rotated photo back onto the upright one
    height, width = upright.shape[:2]
    x, y = found.face.landmarks[:, 0], found.face.landmarks[:, 1]
    if turn == cv2.ROTATE_90_CLOCKWISE:
        back = np.stack([y, height - 1 - x], 1)
    elif turn == cv2.ROTATE_180:
        back = np.stack([width - 1 - x, height - 1 - y], 1)
    else:
        back = np.stack([width - 1 - y, x], 1)
    assert np.abs(back - reference.face.landmarks).mean() < 0.02 * _iod(reference.face.landmarks)
    assert found.eye_error < 2.0 * 96 / 128
    # the crop is upright whatever the input's rotation
    assert np.abs(found.image.astype(int) - reference.image.astype(int)).mean() < 6
    expected_roll = {270: 90, 180: 180, 90: -90}[needed]
    assert abs((found.pose.roll - expected_roll + 180) % 360 - 180) < 10


def test_exif_rotated_jpeg_is_found_upright(frl_london, tmp_path):
    upright = cv2.resize(load_image(frl_london / "smiling_front" / "020_08.jpg"), (360, 360))
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # pixels stored sideways...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...and the orientation tag says "rotate 90 degrees clockwise to display"
    path = tmp_path / "sideways.jpg"
    stored.save(path, exif=exif.tobytes(), quality=95)
    pipeline = FacePipeline(size=128)
    (reference,) = pipeline.process(upright)
    (found,) = pipeline.process(load_image(path))
    assert found.face.rotation == 0  # found without trying rotations: EXIF was honoured
    assert np.abs(found.face.landmarks - reference.face.landmarks).mean() < 0.03 * _iod(reference.face.landmarks)


def test_all_faces_finds_two_people_side_by_side(frl_london):
    big = cv2.resize(load_image(frl_london / "neutral_front" / "001_03.jpg"), (420, 420))
    small = cv2.resize(load_image(frl_london / "smiling_front" / "033_08.jpg"), (300, 300))
    canvas = np.full((420, 740, 3), 200, np.uint8)
    canvas[:, :420] = big
    canvas[60:360, 440:740] = small
    faces = FacePipeline(size=64, all_faces=True).process(canvas)
    assert len(faces) == 2
    first, second = faces
    assert first.face.area > second.face.area
    assert first.face.landmarks[:, 0].max() < 420 and second.face.landmarks[:, 0].min() > 440
    assert all(face.eye_error < 1.0 for face in faces)
    (only,) = FacePipeline(size=64).process(canvas)
    np.testing.assert_allclose(only.face.landmarks, first.face.landmarks)


def test_sizes_and_grey_crops_show_the_same_face(frl_london):
    image = load_image(frl_london / "neutral_front" / "045_03.jpg")
    face = FacePipeline().detect(image)[0]
    crops = {size: align_face(image, face, size=size) for size in (64, 128, 256)}
    for size, crop in crops.items():
        assert crop.image.shape == (size, size, 3)
        assert crop.eye_error < 2.0 * size / 128
        np.testing.assert_allclose(crop.landmarks / size, crops[128].landmarks / 128, atol=0.6 / 64)
    # a small crop of a large photo is area-averaged, not aliased: it looks like the big crop shrunk
    shrunk = cv2.resize(crops[256].image, (64, 64), interpolation=cv2.INTER_AREA)
    assert np.abs(shrunk.astype(int) - crops[64].image.astype(int)).mean() < 2
    grey = align_face(image, face, size=100, grey=True)
    assert grey.image.shape == (100, 100) and grey.image.dtype == np.uint8
    expected = cv2.cvtColor(align_face(image, face, size=100).image, cv2.COLOR_RGB2GRAY)
    assert np.abs(grey.image.astype(int) - expected.astype(int)).mean() < 2
    grey_input = load_image(frl_london / "neutral_front" / "045_03.jpg", grey=True)
    assert align_face(grey_input, face, size=80).image.shape == (80, 80, 3)


def test_large_photo_is_detected_downscaled_with_full_resolution_landmarks(frl_london):
    image = load_image(frl_london / "smiling_front" / "027_08.jpg")
    large = cv2.resize(image, (2025, 2025), interpolation=cv2.INTER_CUBIC)  # 3x, over the 1600 px detection limit
    (reference,) = FacePipeline().detect(image)
    (found,) = FacePipeline().detect(large)
    assert found.detector == "dlib-hog"
    scaled_back = (found.landmarks + 0.5) / 3 - 0.5
    assert np.abs(scaled_back - reference.landmarks).mean() < 0.02 * _iod(reference.landmarks)


def test_given_landmarks_skip_detection_and_match_the_detected_crop(frl_london):
    image = load_image(frl_london / "neutral_front" / "007_03.jpg")
    pipeline = FacePipeline(size=128)
    (detected,) = pipeline.process(image)
    (given,) = pipeline.process(image, landmarks=detected.face.landmarks.astype(np.float64))
    assert given.face.detector == "given" and given.face.rotation == 0
    np.testing.assert_allclose(given.matrix, detected.matrix)
    assert np.array_equal(given.image, detected.image)
    with pytest.raises(ValueError, match="68, 2"):
        pipeline.process(image, landmarks=np.zeros((5, 2)))
    with pytest.raises(TypeError, match="uint8"):
        pipeline.process(image.astype(np.float32))


def test_alignment_weights_trade_eye_accuracy_for_nose_and_mouth(frl_london):
    image = load_image(frl_london / "smiling_front" / "105_08.jpg")
    face = FacePipeline().detect(image)[0]
    eyes_only = align_face(image, face, weights=(1, 1, 0, 0, 0))
    equal = align_face(image, face, weights=(1, 1, 1, 1, 1), max_eye_error=1.0)
    default = align_face(image, face)
    assert eyes_only.eye_error < 1e-3
    assert equal.eye_error > default.eye_error > eyes_only.eye_error
    template = template_points(128)
    def rest(aligned):
        return np.linalg.norm(aligned.landmarks[[30, 48, 54]] - template[2:], axis=1).sum()
    assert rest(equal) < rest(default) < rest(eyes_only)


def test_frontal_photos_have_small_head_pose(frl_aligned):
    poses = np.array([(f.pose.yaw, f.pose.pitch, f.pose.roll) for f in frl_aligned.values()])
    medians = np.median(np.abs(poses), axis=0)
    assert medians[0] < 4 and medians[1] < 8 and medians[2] < 3
    assert np.abs(poses[:, 0]).max() < 15 and np.abs(poses[:, 2]).max() < 10 and np.abs(poses[:, 1]).max() < 25
    assert min(f.frontality for f in frl_aligned.values()) > 0.4
    assert np.median([f.frontality for f in frl_aligned.values()]) > 0.9


def test_smiles_lift_the_lip_corners_and_score_less_neutral(frl_aligned):
    people = sorted({person for person, _ in frl_aligned})
    assert len(people) == 82
    pairs = [(frl_aligned[(p, "neutral")], frl_aligned[(p, "smiling")]) for p in people]
    lift_rate = np.mean([s.cues.lip_corner_lift > n.cues.lip_corner_lift for n, s in pairs])
    order_rate = np.mean([s.neutrality < n.neutrality for n, s in pairs])
    assert lift_rate >= 0.95
    assert order_rate >= 0.90
    assert np.mean([n.neutrality for n, _ in pairs]) > 0.6 > 0.3 > np.mean([s.neutrality for _, s in pairs])
    assert all(0.0 <= f.neutrality <= 1.0 and 0.0 <= f.frontality <= 1.0 for pair in pairs for f in pair)


def test_relative_neutrality_uses_the_persons_own_reference(yale_aligned):
    for label in ("happy", "surprised", "sleepy"):
        wins = []
        for subject in range(1, 16):
            own = [f.cues for name, f in yale_aligned.items() if name.startswith(f"subject{subject:02d}.")]
            reference = reference_cues(own)
            normal = yale_aligned[f"subject{subject:02d}.normal"].cues
            other = yale_aligned[f"subject{subject:02d}.{label}"].cues
            wins.append(neutrality_score(other, reference) < neutrality_score(normal, reference))
        assert np.mean(wins) >= 0.9, label
    surprised = [f.cues.mouth_open for name, f in yale_aligned.items() if name.endswith(".surprised")]
    normal = [f.cues.mouth_open for name, f in yale_aligned.items() if name.endswith(".normal")]
    assert np.median(surprised) > np.median(normal) + 0.1


def test_paste_back_restores_the_photo_and_replaces_only_the_face(frl_london):
    original = cv2.resize(load_image(frl_london / "neutral_front" / "021_03.jpg"), (400, 400))
    (face,) = FacePipeline(size=128).process(original)
    same = paste_back(original, face.image, face.matrix)
    assert same.shape == original.shape and same.dtype == np.uint8
    x0, y0, x1, y1 = (int(v) for v in face.face.box)
    inner = (slice(y0 + 20, y1 - 20), slice(x0 + 20, x1 - 20))
    assert np.abs(same[inner].astype(int) - original[inner].astype(int)).mean() < 3
    changed = paste_back(original, 255 - face.image, face.matrix)
    difference = np.abs(changed.astype(int) - original.astype(int)).max(axis=2)
    nose = face.face.landmarks[30].round().astype(int)
    assert difference[nose[1], nose[0]] > 50  # the face was replaced...
    assert difference[:40].max() == 0 and difference[:, :40].max() == 0  # ...the rest of the photo was not
    row = difference[nose[1]].astype(float)
    assert ((row > 5) & (row < 0.9 * row.max())).sum() >= 6  # feathered: a gradual edge, not a hard seam
    grey_into_rgb = paste_back(original, cv2.cvtColor(face.image, cv2.COLOR_RGB2GRAY), face.matrix)
    assert grey_into_rgb.shape == original.shape
