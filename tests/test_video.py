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
