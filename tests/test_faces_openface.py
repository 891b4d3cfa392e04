"""OpenFace CSV compatibility: reading both header styles by name and the thesis's neutral-frame filter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facexpr.faces import (
    NeutralFrameFilter,
    neutral_frontal_rows,
    openface_landmarks,
    read_openface_csv,
)
from facexpr.faces.openface import THESIS_AUS
from facexpr.io import BadInputError

FIXTURES = Path(__file__).parent / "fixtures" / "openface"


def _frames(rows):
    return [int(row["frame"]) for row in rows]


def test_feature_extraction_csv_is_read_by_column_name():
    rows = read_openface_csv(FIXTURES / "feature_extraction.csv")
    assert len(rows) == 9
    first = rows[0]
    assert "face_id" in first and "confidence" in first and " confidence" not in first
    assert first["confidence"] == 0.98 and first["success"] == 1.0 and first["pose_Ry"] == -0.021
    assert rows[5]["AU12_r"] == 2.10 and rows[5]["AU12_c"] == 1.0


def test_thesis_filter_on_feature_extraction_output():
    # kept: 1 (clean), 5 (roll 17.2 deg < 20), 7 (AU45 blink and AU10 are not checked)
    # dropped: 2 (success 0), 3 (confidence 0.85), 4 (yaw 22.9 deg), 6 (AU12 2.1),
    #          8 (AU26 = 1.0, not under), 9 (pitch 20.6 deg)
    assert _frames(neutral_frontal_rows(FIXTURES / "feature_extraction.csv")) == [1, 5, 7]


def test_thesis_filter_thresholds_are_options():
    path = FIXTURES / "feature_extraction.csv"
    assert _frames(neutral_frontal_rows(path, NeutralFrameFilter(max_pose_degrees=25.0))) == [1, 4, 5, 7, 9]
    assert _frames(neutral_frontal_rows(path, NeutralFrameFilter(max_pose_degrees=15.0))) == [1, 7]
    assert _frames(neutral_frontal_rows(path, NeutralFrameFilter(max_au_intensity=2.5))) == [1, 5, 6, 7, 8]
    assert _frames(neutral_frontal_rows(path, NeutralFrameFilter(min_confidence=0.8))) == [1, 3, 5, 7]
    without_smile = tuple(au for au in THESIS_AUS if au not in ("AU06", "AU12"))  # frame 6 smiles with both
    assert _frames(neutral_frontal_rows(path, NeutralFrameFilter(aus=without_smile))) == [1, 5, 6, 7]


def test_older_csv_without_face_id():
    rows = read_openface_csv(FIXTURES / "feature_extraction_no_face_id.csv")
    assert "face_id" not in rows[0] and rows[0]["timestamp"] == 0.0
    # 2 frowns (AU04 1.3), 4 lost tracking; 3 keeps despite AU14 (not a thesis AU) and 14.3 deg of yaw
    assert _frames(neutral_frontal_rows(FIXTURES / "feature_extraction_no_face_id.csv")) == [1, 3]


def test_face_landmark_img_csv_without_success_column():
    path = FIXTURES / "face_landmark_img.csv"
    rows = read_openface_csv(path)
    assert [row["face"] for row in rows] == [0.0, 1.0] and "success" not in rows[0]
    kept = neutral_frontal_rows(path)
    assert [row["face"] for row in kept] == [0.0]  # face 1 has confidence 0.6
    landmarks = openface_landmarks(kept[0])
    assert landmarks.shape == (68, 2) and landmarks.dtype == np.float32
    np.testing.assert_allclose(landmarks[5], [110.0, 157.5])
    with pytest.raises(KeyError, match="x_0"):
        openface_landmarks(read_openface_csv(FIXTURES / "feature_extraction.csv")[0])


def test_missing_columns_are_a_one_line_error():
    with pytest.raises(BadInputError) as raised:
        neutral_frontal_rows(FIXTURES / "missing_pose.csv")
    message = str(raised.value)
    assert "missing_pose.csv" in message and "pose_Rx" in message and "pose_Rz" in message and "\n" not in message
    assert "confidence" not in raised.value.reason.split("missing")[1]  # only what is actually missing is named


def test_broken_csv_files_are_one_line_errors(tmp_path):
    bad_value = tmp_path / "bad_value.csv"
    bad_value.write_text("frame, confidence, pose_Rx, pose_Ry, pose_Rz\n1, high, 0, 0, 0\n")
    with pytest.raises(BadInputError, match=r"line 2: confidence is not a number \('high'\)"):
        neutral_frontal_rows(bad_value)
    short = tmp_path / "short.csv"
    short.write_text("frame, confidence, pose_Rx, pose_Ry, pose_Rz\n1, 0.99, 0\n")
    with pytest.raises(BadInputError, match="3 values for 5 columns"):
        read_openface_csv(short)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(BadInputError, match="empty CSV"):
        read_openface_csv(empty)
    with pytest.raises(BadInputError, match="no such file"):
        read_openface_csv(tmp_path / "absent.csv")
