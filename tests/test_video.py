"""``prepare clip.mp4``: most neutral frontal frame as target, diverse expressive frames as inputs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facexpr.data.prepare import PrepareOptions
from facexpr.data.records import read_manifest
from facexpr.data.video import prepare_video
from facexpr.io import BadInputError, load_image


def _write_clip(path, frames, fps=10):
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def _shifted(image, dx):
    return np.roll(image, dx, axis=1)


@pytest.fixture(scope="module")
def clip(frl_london, tmp_path_factory):
    """Smiling frames, then neutral frames, then smiling again (one real person, 320 px)."""
    neutral = cv2.resize(load_image(frl_london / "neutral_front" / "001_03.jpg"), (320, 320))
    smiling = cv2.resize(load_image(frl_london / "smiling_front" / "001_08.jpg"), (320, 320))
    frames = [_shifted(smiling, d) for d in (0, 3, 6)] + [_shifted(neutral, d) for d in (0, 4)] + [_shifted(smiling, -5)]
    path = tmp_path_factory.mktemp("video") / "person001.mp4"
    _write_clip(path, frames)
    return path


def test_video_target_is_the_neutral_frame_and_inputs_the_smiles(clip, tmp_path):
    result = prepare_video(clip, tmp_path / "out", PrepareOptions(size=96, video_inputs=2))
    records = read_manifest(tmp_path / "out" / "manifest.csv")
    targets = [r for r in records if r.meta["role"] == "target"]
    inputs = [r for r in records if r.meta["role"] == "input"]
    assert len(targets) == 1 and targets[0].expression == "neutral"
    assert targets[0].meta["frame"] in (3, 4)
    assert len(inputs) == 2 and all(r.meta["frame"] not in (3, 4) for r in inputs)
    assert {r.subject for r in records} == {"person001"}
    assert load_image(tmp_path / "out" / targets[0].path).shape == (96, 96, 3)
    again = prepare_video(clip, tmp_path / "out", PrepareOptions(size=96, video_inputs=2))
    assert again.summary["reused_from_cache"] == 1
    assert [r.path for r in again.records] == [r.path for r in result.records]


def test_not_a_video_is_a_one_line_error(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("no frames here")
    with pytest.raises(BadInputError, match="fake.mp4"):
        prepare_video(fake, tmp_path / "out")


@pytest.fixture(scope="module")
def blended_clip(frl_london, tmp_path_factory):
    """26 frames of one FRL person: frame i shows |i - 10| / 15 of the smile blended into the neutral photo
    (frame 10 is the pure neutral photo, frame 16 a 40% smile, frame 25 the full smile)."""
    neutral = cv2.resize(load_image(frl_london / "neutral_front" / "001_03.jpg"), (320, 320)).astype(float)
    smiling = cv2.resize(load_image(frl_london / "smiling_front" / "001_08.jpg"), (320, 320)).astype(float)
    frames = [np.clip((1 - w) * neutral + w * smiling, 0, 255).astype(np.uint8)
              for w in (abs(i - 10) / 15 for i in range(26))]
    path = tmp_path_factory.mktemp("blend") / "person001.mp4"
    _write_clip(path, frames)
    return path


def test_geometric_neutrality_picks_the_pure_neutral_frame_of_a_blended_clip(blended_clip, tmp_path):
    """The shipped shape model and the expression judge together choose the neutral photo (frame 10) or a frame
    within a 7% blend of it (9 or 11: below what dlib's landmarks resolve once the clip is compressed), never
    a visible smile; the inputs are the strong smiles and the neutral photo is not among them."""
    from facexpr.models.geometric import default_model, neutrality_scorer

    prepare_video(blended_clip, tmp_path / "out", PrepareOptions(size=128, video_inputs=3),
                  neutrality=neutrality_scorer(default_model()), neutrality_name="geometric")
    records = read_manifest(tmp_path / "out" / "manifest.csv")
    target = next(r for r in records if r.meta["role"] == "target")
    assert abs(target.meta["frame"] - 10) <= 1
    inputs = [r.meta["frame"] for r in records if r.meta["role"] == "input"]
    assert len(inputs) == 3 and all(abs(frame - 10) >= 6 for frame in inputs)
