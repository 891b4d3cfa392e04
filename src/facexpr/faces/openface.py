"""Reading OpenFace 2 CSV output and selecting neutral frontal frames the way the thesis did.

OpenFace writes one CSV per video (``FeatureExtraction``: ``frame, face_id,
timestamp, confidence, success, ...``; versions before 2.0.3 have no
``face_id``) or per image (``FaceLandmarkImg``: ``face, confidence, ...``,
no ``success`` column since only detected faces are written). Headers and
values are separated by ``", "``; columns are found by name with the spaces
stripped, so any column subset or order works.

The thesis kept a frame as a neutral frontal face when the tracker succeeded
with confidence >= 0.9, the head was turned less than a threshold about
every axis, and no expression action unit among AU01, 02, 04, 05, 06, 07,
09, 12, 15, 17, 23, 25 and 26 was active (intensity ``AUxx_r`` under a
threshold). OpenFace's pose angles ``pose_Rx/Ry/Rz`` are radians; thresholds
here are in degrees.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facexpr.io import BadInputError

#: Action units whose intensity must stay under the threshold for a frame to count as neutral.
THESIS_AUS = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU12", "AU15", "AU17", "AU23", "AU25", "AU26")
#: Columns the filter cannot do without.
POSE_COLUMNS = ("pose_Rx", "pose_Ry", "pose_Rz")

OpenFaceRow = dict[str, float]


def read_openface_csv(path: str | os.PathLike, required: tuple[str, ...] = ()) -> list[OpenFaceRow]:
    """Rows of an OpenFace CSV as ``{column: value}`` dicts (names without spaces, values as floats).

    Raises:
        BadInputError: missing or empty file, a ``required`` column absent,
            a row of the wrong length or a value that is not a number.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "no such file")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        header = [name.strip() for name in next(reader, [])]
        if not any(header):
            raise BadInputError(path, "empty CSV (no header line)")
        missing = [name for name in required if name not in header]
        if missing:
            raise BadInputError(
                path, f"not an OpenFace CSV with the needed columns: missing {', '.join(missing)}"
            )
        rows = []
        for line_number, values in enumerate(reader, start=2):
            if not values or not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise BadInputError(path, f"line {line_number} has {len(values)} values for {len(header)} columns")
            row = {}
            for name, value in zip(header, values):
                try:
                    row[name] = float(value)
                except ValueError:
                    reason = f"line {line_number}: {name} is not a number ({value.strip()!r})"
                    raise BadInputError(path, reason) from None
            rows.append(row)
    return rows


@dataclass(frozen=True)
class NeutralFrameFilter:
    """The thesis's frame filter; every threshold is an option.

    A row is kept when ``success`` is 1 (rows without a ``success`` column,
    as FaceLandmarkImg writes them, count as successful), ``confidence >=
    min_confidence``, each of ``|pose_Rx|``, ``|pose_Ry|``, ``|pose_Rz|`` is
    under ``max_pose_degrees`` (converted from OpenFace's radians), and every
    ``<AU>_r`` column present for the action units in ``aus`` is under
    ``max_au_intensity`` (OpenFace intensities run from 0 to 5).
    """

    min_confidence: float = 0.9
    max_pose_degrees: float = 20.0
    max_au_intensity: float = 1.0
    aus: tuple[str, ...] = THESIS_AUS

    def keeps(self, row: OpenFaceRow) -> bool:
        """Whether one row passes every test."""
        if row.get("success", 1.0) != 1.0 or row["confidence"] < self.min_confidence:
            return False
        if any(abs(math.degrees(row[name])) >= self.max_pose_degrees for name in POSE_COLUMNS):
            return False
        return all(row[f"{au}_r"] < self.max_au_intensity for au in self.aus if f"{au}_r" in row)


def neutral_frontal_rows(path: str | os.PathLike, frame_filter: NeutralFrameFilter | None = None) -> list[OpenFaceRow]:
    """The rows of an OpenFace CSV that pass ``frame_filter`` (default: the thesis's thresholds), in file order.

    Raises:
        BadInputError: as :func:`read_openface_csv`, including when
            ``confidence`` or a pose column is missing.
    """
    frame_filter = frame_filter or NeutralFrameFilter()
    rows = read_openface_csv(path, required=("confidence", *POSE_COLUMNS))
    return [row for row in rows if frame_filter.keeps(row)]


def openface_landmarks(row: OpenFaceRow) -> np.ndarray:
    """The 68 2-D landmarks (``x_0..x_67``, ``y_0..y_67``) of a row as float32 (68, 2), usable as
    ``FacePipeline.process(image, landmarks=...)``.

    Raises:
        KeyError: the CSV was written without 2-D landmarks.
    """
    if "x_0" not in row or "y_67" not in row:
        raise KeyError("OpenFace row has no 2-D landmark columns x_0..x_67, y_0..y_67 (run OpenFace with -2Dfp)")
    return np.array([(row[f"x_{i}"], row[f"y_{i}"]) for i in range(68)], dtype=np.float32)
