"""The record type, expression vocabulary and manifest round-trip."""

from __future__ import annotations

import pytest

from facexpr.data.records import (
    FaceRecord,
    Skip,
    normalize_expression,
    read_manifest,
    read_skips,
    write_manifest,
    write_skips,
)
from facexpr.io import BadInputError


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Happiness", "happy"),
        ("smiling", "happy"),
        ("normal", "neutral"),
        ("SURPRISED", "surprise"),
        ("afraid", "fear"),
        ("contemptuous", "contempt"),
        ("Disgusted", "disgust"),
        ("anger", "angry"),
        ("no_emotion", "neutral"),
        (" Sleepy ", "sleepy"),
    ],
)
def test_expression_labels_are_normalised(label, expected):
    assert normalize_expression(label) == expected


def test_manifest_round_trip_keeps_types_and_identifiers(tmp_path):
    records = [
        FaceRecord("crops/001/neutral_1.png", "001", "neutral", "1", "frl_london", "train",
                   {"yaw": 1.25, "face_id": "001", "landmarks": [[1.5, 2.0], [3.0, 4.25]], "rotation": 90}),
        FaceRecord("crops/002/happy_1.png", "002", "happy", "2", "frl_london", "test", {"label": "smiling"}),
    ]
    write_manifest(tmp_path / "manifest.csv", records)
    back = read_manifest(tmp_path / "manifest.csv")
    assert [(r.path, r.subject, r.expression, r.take, r.source, r.split) for r in back] == [
        (r.path, r.subject, r.expression, r.take, r.source, r.split) for r in records
    ]
    assert back[0].meta == records[0].meta
    assert back[0].meta["face_id"] == "001"  # leading zeros survive
    assert back[1].meta == {"label": "smiling"}


def test_manifest_without_required_columns_is_a_one_line_error(tmp_path):
    (tmp_path / "m.csv").write_text("file,label\na.png,happy\n")
    with pytest.raises(BadInputError, match="lacks column"):
        read_manifest(tmp_path / "m.csv")


def test_skip_list_round_trip(tmp_path):
    skips = [Skip("/x/a.jpg", "truncated image file", "a", "happy"), Skip("", "no neutral image", "b")]
    write_skips(tmp_path / "skipped.csv", skips)
    assert read_skips(tmp_path / "skipped.csv") == skips
