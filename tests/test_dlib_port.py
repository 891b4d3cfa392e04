"""The PyTorch port of dlib's face-recognition ResNet: the serialization parser by hand, the weight cache,
gradients, the torch face chip against dlib's, and descriptors (the port's and the identity judge's)
against dlib's own on real FRL faces."""

from __future__ import annotations

import dlib
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from facexpr.faces import FacePipeline
from facexpr.faces.models import FACE_DESCRIPTOR, model_file, shape_predictor
from facexpr.io import BadInputError, load_image
from facexpr.judges.dlib_resnet import (
    CHIP_SIZE,
    DlibFaceResNet,
    _DlibReader,
    add_zero_padded,
    cached_weights,
    descriptors_from_chips,
    extract_face_chips,
    face_chip_transforms,
    read_dlib_resnet,
)
from facexpr.judges.geometry import (
    WORK_SIZE,
    crop_list,
    fixed_face_box,
    working_landmarks,
)
from facexpr.judges.identity import IdentityJudge

#: FRL London photos compared with dlib (the first ones in id order).
PHOTOS = 6


@pytest.fixture(scope="module")
def dlib_descriptor():
    return dlib.face_recognition_model_v1(str(model_file(FACE_DESCRIPTOR)))


def _synthetic_landmarks(seed: int) -> np.ndarray:
    """68 integer landmarks of a face about 120 px wide, rotated by a few degrees, inside a 320 px image."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(-0.2, 0.2)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = rng.uniform(-60, 60, size=(68, 2)) @ rotation.T + rng.uniform(140, 180, size=2)
    return np.round(points)


# ---------------------------------------------------------------- without photos


def test_reader_decodes_dlibs_integers_floats_and_strings_by_hand(tmp_path):
    # 2; -5; 0x0102 (two bytes, little endian); 0.6 = 0x99999a * 2**-24; "con_4"; '1'
    data = bytes([0x01, 0x02, 0x81, 0x05, 0x02, 0x02, 0x01, 0x03, 0x9A, 0x99, 0x99, 0x81, 0x18,
                  0x01, 0x05]) + b"con_4" + b"1"
    reader = _DlibReader(data, tmp_path / "hand.dat")
    assert reader.integer() == 2 and reader.integer() == -5 and reader.integer() == 0x0102
    assert reader.real() == pytest.approx(0.6, abs=1e-7)
    assert reader.string() == "con_4" and reader.boolean() is True
    with pytest.raises(BadInputError, match=r"hand\.dat: .*truncated"):
        reader.integer()


def test_add_zero_padded_pads_channels_and_size_at_the_end():
    a = torch.ones(1, 2, 3, 3)
    b = torch.full((1, 4, 2, 2), 10.0)
    total = add_zero_padded(a, b)
    assert total.shape == (1, 4, 3, 3)
    assert total[0, 0, 0, 0] == 11 and total[0, 0, 2, 2] == 1 and total[0, 3, 0, 0] == 10 and total[0, 3, 2, 2] == 0


def test_truncated_or_foreign_files_are_refused_in_one_line(tmp_path):
    data = model_file(FACE_DESCRIPTOR).read_bytes()
    for name, content in (("cut.dat", data[: len(data) // 2]), ("tail.dat", data + b"\x00"),
                          ("other.dat", b"\x01\x01\x01\x05hello")):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(BadInputError) as caught:
            read_dlib_resnet(path)
        message = str(caught.value)
        assert message.startswith(f"{path}: ") and "\n" not in message
    with pytest.raises(BadInputError, match="truncated"):
        read_dlib_resnet(tmp_path / "cut.dat")
    with pytest.raises(BadInputError, match="cannot read"):
        read_dlib_resnet(tmp_path / "missing.dat")


def test_cache_round_trip_gives_identical_weights_and_heals_a_bad_cache(tmp_path):
    cache = tmp_path / "cache" / "weights.safetensors"
    parsed = read_dlib_resnet()
    assert cached_weights(cache=cache) == cache
    cached = load_file(str(cache))
    assert cached.keys() == parsed.keys() == DlibFaceResNet().state_dict().keys()
    assert all(torch.equal(cached[key], parsed[key]) for key in parsed)
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]  # no temporary file left behind
    stamp = cache.stat().st_mtime_ns
    cached_weights(cache=cache)
    assert cache.stat().st_mtime_ns == stamp  # read, not rewritten
    cache.write_bytes(b"not safetensors")
    cached_weights(cache=cache)
    assert all(torch.equal(load_file(str(cache))[key], parsed[key]) for key in parsed)


def test_gradient_flows_to_the_input_chip():
    torch.manual_seed(0)
    chips = torch.rand(2, 3, CHIP_SIZE, CHIP_SIZE, requires_grad=True)
    descriptors = descriptors_from_chips(chips)
    assert descriptors.shape == (2, 128)
    descriptors.square().sum().backward()
    assert torch.isfinite(chips.grad).all() and chips.grad.abs().sum() > 0
    # each descriptor depends on its own chip only
    chips.grad = None
    descriptors_from_chips(chips)[0].sum().backward()
    assert chips.grad[1].abs().max() == 0 and chips.grad[0].abs().max() > 0
    with pytest.raises(ValueError, match="150"):
        descriptors_from_chips(torch.zeros(1, 3, 128, 128))


@pytest.mark.parametrize("seed", [0, 1])
def test_torch_chip_matches_dlibs_chip_on_a_synthetic_image(seed):
    rng = np.random.default_rng(seed)
    # a smooth random image, so bilinear interpolation differences stay small
    coarse = rng.uniform(0, 255, size=(3, 40, 40)).astype(np.float32)
    image = torch.nn.functional.interpolate(torch.from_numpy(coarse)[None], size=(320, 320), mode="bicubic",
                                            align_corners=False).clamp(0, 255).round()
    array = np.ascontiguousarray(image[0].permute(1, 2, 0).numpy().astype(np.uint8))
    points = _synthetic_landmarks(seed)
    shape = dlib.full_object_detection(dlib.rectangle(0, 0, 319, 319), [dlib.point(int(x), int(y)) for x, y in points])
    reference = torch.from_numpy(dlib.get_face_chip(array, shape, CHIP_SIZE)).permute(2, 0, 1).float()
    details = dlib.get_face_chip_details(shape, CHIP_SIZE, 0.25)
    matrix = face_chip_transforms(torch.from_numpy(points)[None])[0].numpy()
    centre = np.array([details.rect.center().x, details.rect.center().y])  # dlib rounds this one
    np.testing.assert_allclose(matrix @ [(CHIP_SIZE - 1) / 2, (CHIP_SIZE - 1) / 2, 1], centre, atol=0.51)
    assert np.arctan2(matrix[1, 0], matrix[0, 0]) == pytest.approx(details.angle, abs=1e-9)
    assert np.hypot(*matrix[:, 0]) * (CHIP_SIZE - 1) + 1 == pytest.approx(details.rect.width(), rel=1e-9)
    chip = extract_face_chips(torch.from_numpy(array).permute(2, 0, 1)[None].float(),
                              torch.from_numpy(points)[None].float())[0]
    inner = (chip - reference)[:, 1:-1, 1:-1]  # dlib zeroes edge pixels whose 2 x 2 neighbourhood leaves the image
    assert inner.min() >= -0.01 and inner.max() <= 1.01  # dlib truncates to uint8


# ---------------------------------------------------------------- on real faces


@pytest.fixture(scope="module")
def frl_chips(frl_london):
    """dlib's 150 px chips, dlib's descriptors of them, the photos and the landmarks of :data:`PHOTOS` FRL faces."""
    detector, predictor = dlib.get_frontal_face_detector(), shape_predictor()
    photos, landmarks = [], []
    for path in sorted((frl_london / "neutral_front").glob("*_03.jpg"))[:PHOTOS]:
        photo = np.ascontiguousarray(load_image(path)[..., :3])
        faces = detector(photo, 0) or detector(photo, 1)
        assert faces, f"no face found in {path}"
        shape = predictor(photo, faces[0])
        photos.append(photo)
        landmarks.append((shape, np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)))
    chips = np.stack([dlib.get_face_chip(photo, shape, CHIP_SIZE) for photo, (shape, _) in zip(photos, landmarks)])
    return {"chips": chips, "photos": np.stack(photos), "landmarks": np.stack([lm for _, lm in landmarks])}


def test_port_matches_dlib_on_real_face_chips(frl_chips, dlib_descriptor):
    chips = frl_chips["chips"]
    reference = np.array([np.array(dlib_descriptor.compute_face_descriptor(chip)) for chip in chips])
    with torch.no_grad():
        ours = descriptors_from_chips(torch.from_numpy(chips).permute(0, 3, 1, 2)).numpy()
        floats = descriptors_from_chips(torch.from_numpy(chips).permute(0, 3, 1, 2).float() / 255).numpy()
    assert np.abs(ours - reference).max() < 1e-3
    assert np.abs(floats - reference).max() < 1e-3
    assert np.linalg.norm(reference, axis=1).min() > 0.2  # not a trivially small output


def test_torch_chips_of_real_photos_give_dlibs_descriptors(frl_chips, dlib_descriptor):
    photos = torch.from_numpy(frl_chips["photos"]).permute(0, 3, 1, 2).float()
    chips = extract_face_chips(photos, torch.from_numpy(frl_chips["landmarks"]))
    difference = (chips - torch.from_numpy(frl_chips["chips"]).permute(0, 3, 1, 2).float()).abs()
    assert difference.mean() < 1.5  # 0.5 from dlib's truncation to uint8; more where dlib used its pyramid
    reference = np.array([np.array(dlib_descriptor.compute_face_descriptor(chip)) for chip in frl_chips["chips"]])
    with torch.no_grad():
        ours = descriptors_from_chips(chips / 255).numpy()
    assert np.linalg.norm(ours - reference, axis=1).max() < 0.06  # dlib's same-person threshold is 0.6


def test_identity_judge_gives_dlibs_descriptors_of_pipeline_crops(frl_london, dlib_descriptor):
    pipeline = FacePipeline(size=128)
    paths = sorted((frl_london / "smiling_front").glob("*_08.jpg"))[:PHOTOS]
    crops = np.stack([pipeline.process(load_image(path))[0].image for path in paths])
    x0, y0, x1, y1 = (int(round(v)) for v in fixed_face_box(WORK_SIZE))
    box = dlib.rectangle(x0, y0, x1 - 1, y1 - 1)
    reference = []
    for image, points in map(working_landmarks, crop_list(crops)):  # the judge's dlib path before the port
        shape = dlib.full_object_detection(box, [dlib.point(int(x), int(y)) for x, y in points])
        reference.append(np.array(dlib_descriptor.compute_face_descriptor(image, shape)))
    assert np.abs(IdentityJudge(batch_size=4).descriptors(crops) - np.array(reference)).max() < 1e-3
