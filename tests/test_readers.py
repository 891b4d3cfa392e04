"""Dataset readers: fake trees for every layout, auto-detection, and the real Yale and FRL folders."""

from __future__ import annotations

import csv
import itertools
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from facexpr.data.readers import FORMATS, ReadResult, detect_format, read_dataset
from facexpr.io import BadInputError

_shade = itertools.count(1)


def _image(path: Path, fmt: str | None = None, *, copy_of: Path | None = None) -> Path:
    """A tiny image with distinct content (or a byte copy of ``copy_of``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if copy_of is not None:
        path.write_bytes(copy_of.read_bytes())
    else:
        Image.new("L", (4, 4), next(_shade) % 256).save(path, format=fmt)
    return path


def _by_name(result: ReadResult) -> dict:
    return {Path(r.path).name: r for r in result.records}


def _skips_by_name(result: ReadResult) -> dict[str, str]:
    return {Path(s.path).name: s.reason for s in result.skipped}


# --- fake trees, one per layout ------------------------------------------------------------


def make_jaffe(root: Path) -> Path:
    for name in ("KA.HA1.29.tiff", "KA.HA2.30.tiff", "KA.NE1.26.tiff", "KM.SU3.16.tiff", "NA.FE1.202.tiff"):
        _image(root / name, "TIFF")
    _image(root / "KA_HA1.tiff", "TIFF")  # wrong separator
    _image(root / "KA.XX1.31.tiff", "TIFF")  # unknown expression code
    (root / "README").write_text("The JAFFE images")  # not an image, not a candidate
    return root


def make_yale(root: Path) -> Path:
    normal1 = _image(root / "subject01.normal", "GIF")
    for label in ("happy", "glasses", "noglasses", "wink", "sleepy", "surprised", "leftlight"):
        _image(root / f"subject01.{label}", "GIF")
    normal2 = _image(root / "subject02.normal", "GIF")
    _image(root / "subject02.sad", copy_of=normal2)  # the subject04.sad quirk
    _image(root / "subject02.noglasses", copy_of=normal2)
    glasses3 = _image(root / "subject03.glasses", "GIF")
    _image(root / "subject03.normal", copy_of=glasses3)  # the subject08 quirk: normal still wins
    _image(root / "subject03.happy", copy_of=normal1)  # same bytes, other subject: not a duplicate
    _image(root / "subject04.gif", "GIF")
    _image(root / "subjectX.happy", "GIF")
    (root / "Readme.txt").write_text("Yale faces")
    return root


def make_kdef(root: Path) -> Path:
    for name in ("AF01HAS.JPG", "AF01AFFR.JPG", "AF01NEHL.JPG", "BF01HAS.JPG"):
        _image(root / "KDEF" / name[:4] / name, "JPEG")
    _image(root / "KDEF" / "BM12" / "BM12SUFL.jpg", "JPEG")
    _image(root / "KDEF" / "AF01" / "AF01XXS.JPG", "JPEG")
    _image(root / "KDEF" / "AF01" / "AF01HAS (copy).JPG", "JPEG")
    return root


def make_ckplus(root: Path, *, labelled: dict[tuple[str, str], str] | None = None) -> Path:
    frames = {("S005", "001"): 6, ("S005", "002"): 4, ("S010", "001"): 2}
    labelled = {("S005", "001"): "   3.0000000e+00\n", ("S010", "001"): "5.0"} if labelled is None else labelled
    for (subject, sequence), count in frames.items():
        for frame in range(1, count + 1):
            name = f"{subject}_{sequence}_{frame:08d}.png"
            _image(root / "cohn-kanade-images" / subject / sequence / name, "PNG")
    for (subject, sequence), text in labelled.items():
        last = frames.get((subject, sequence), 9)
        folder = root / "Emotion" / subject / sequence
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{subject}_{sequence}_{last:08d}_emotion.txt").write_text(text)
    _image(root / "cohn-kanade-images" / "S005" / "001" / "frame7.png", "PNG")
    return root


def make_rafd(root: Path) -> Path:
    for name in (
        "Rafd090_01_Caucasian_female_happy_frontal.jpg",
        "Rafd090_01_Caucasian_female_neutral_frontal.jpg",
        "Rafd045_01_Caucasian_female_contemptuous_left.jpg",
        "Rafd135_07_Moroccan_male_fearful_right.jpg",
        "Rafd090_07_Moroccan_male_surprised_frontal.jpg",
    ):
        _image(root / name, "JPEG")
    _image(root / "Rafd090_07_Moroccan_male_bored_frontal.jpg", "JPEG")
    _image(root / "Rafd_01_female_happy.jpg", "JPEG")
    return root


def make_frl(root: Path) -> Path:
    for subject in ("001", "002", "017"):
        _image(root / "neutral_front" / f"{subject}_03.jpg", "JPEG")
        (root / "neutral_front" / f"{subject}_03.tem").write_text("189\n1\t2\n")
        _image(root / "smiling_front" / f"{subject}_08.jpg", "JPEG")
    _image(root / "smiling_front" / "017-08.jpg", "JPEG")
    (root / "london_info.csv").write_text(
        "face_id,face_age,face_gender,face_eth\n001,24,female,white\n2,30,male,east_asian\n017,NA,female,black\n"
    )
    return root


def make_generic(root: Path) -> Path:
    for subject in ("alice", "bob"):
        for label, suffix in (("neutral", ".png"), ("Happiness", ".jpg"), ("sleepy", ".bmp")):
            image = _image(root / subject / label / f"1{suffix}")
            (image.parent / "1.landmarks.json").write_text("[[0, 0]]")
    _image(root / "alice" / "neutral" / "1.jpg")  # same stem as 1.png
    _image(root / "contact_sheet.png")
    _image(root / "bob" / "portrait.png")
    return root


def make_csv(root: Path) -> Path:
    _image(root / "images" / "a.png")
    _image(root / "images" / "b.png")
    elsewhere = _image(root.parent / f"{root.name}-elsewhere" / "c.png")
    rows = [
        ["path", "subject", "expression", "take", "source", "age"],
        ["images/a.png", "p1", "Happiness", "1", "", "31"],
        ["images/b.png", "p1", "normal", "2", "studio", ""],
        [str(elsewhere), "p2", "sad", "", "", "40"],
        ["images/missing.png", "p2", "happy", "", "", ""],
        ["images/a.png", "p1", "happy", "3", "", ""],
        ["images/b.png", "p3", "", "", "", ""],
    ]
    with open(root / "manifest.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return root


MAKERS = {
    "jaffe": make_jaffe,
    "yale": make_yale,
    "kdef": make_kdef,
    "ckplus": make_ckplus,
    "rafd": make_rafd,
    "frl_london": make_frl,
    "generic": make_generic,
    "csv": make_csv,
}


def _read(tmp_path: Path, fmt: str) -> ReadResult:
    root = tmp_path / fmt
    root.mkdir()
    return read_dataset(MAKERS[fmt](root), fmt)


# --- one test per reader ---------------------------------------------------------------------


def test_jaffe_fields_and_bad_names(tmp_path):
    result = _read(tmp_path, "jaffe")
    records = _by_name(result)
    assert set(records) == {"KA.HA1.29.tiff", "KA.HA2.30.tiff", "KA.NE1.26.tiff", "KM.SU3.16.tiff", "NA.FE1.202.tiff"}
    first = records["KA.HA1.29.tiff"]
    assert (first.subject, first.expression, first.take, first.source) == ("KA", "happy", "1", "jaffe")
    assert first.meta == {"label": "HA", "image_number": 29}
    assert records["KA.HA2.30.tiff"].take == "2"
    assert [records[n].expression for n in ("KA.NE1.26.tiff", "KM.SU3.16.tiff", "NA.FE1.202.tiff")] == [
        "neutral", "surprise", "fear"]
    skips = _skips_by_name(result)
    assert set(skips) == {"KA_HA1.tiff", "KA.XX1.31.tiff"}
    assert skips["KA_HA1.tiff"] == "name does not follow the JAFFE pattern XX.YYn.N.<image extension>"
    assert "unknown JAFFE expression code XX" in skips["KA.XX1.31.tiff"]


def test_yale_labels_references_and_duplicates(tmp_path):
    result = _read(tmp_path, "yale")
    records = _by_name(result)
    assert records["subject01.normal"].expression == "neutral"
    assert records["subject01.normal"].meta == {"label": "normal", "reference": True}
    assert records["subject01.glasses"].meta == {"label": "glasses", "condition": "glasses"}
    assert records["subject01.leftlight"].expression == "neutral"
    assert records["subject01.surprised"].expression == "surprise"
    assert (records["subject01.wink"].expression, records["subject01.sleepy"].expression) == ("wink", "sleepy")
    assert records["subject01.happy"].take == "happy" and records["subject01.happy"].subject == "subject01"
    # duplicates within a subject: the normal file is kept, its copies skipped
    skips = _skips_by_name(result)
    assert skips["subject02.sad"] == "identical to subject02.normal (duplicate file)"
    assert skips["subject02.noglasses"] == "identical to subject02.normal (duplicate file)"
    assert skips["subject03.glasses"] == "identical to subject03.normal (duplicate file)"
    assert "subject02.sad" not in records and "subject03.glasses" not in records
    assert records["subject03.normal"].meta["reference"] is True
    assert "subject03.happy" in records  # identical bytes in another subject are not duplicates
    assert skips["subjectX.happy"] == "name does not follow the Yale pattern subjectNN.<label>"
    assert "unknown Yale label 'gif'" in skips["subject04.gif"]
    assert "Readme.txt" not in skips
    assert len(result.records) == 8 + 1 + 2 and len(result.skipped) == 5


def test_kdef_subjects_sessions_and_views(tmp_path):
    result = _read(tmp_path, "kdef")
    records = _by_name(result)
    assert set(records) == {"AF01HAS.JPG", "AF01AFFR.JPG", "AF01NEHL.JPG", "BF01HAS.JPG", "BM12SUFL.jpg"}
    afraid = records["AF01AFFR.JPG"]
    assert (afraid.subject, afraid.expression, afraid.take) == ("F01", "fear", "A-FR")
    assert afraid.meta == {"label": "AF", "session": "A", "gender": "female", "view": "FR", "view_name": "full right"}
    assert records["AF01NEHL.JPG"].meta["view_name"] == "half left"
    assert records["AF01HAS.JPG"].meta["view"] == "S" and records["AF01HAS.JPG"].take == "A-S"
    assert records["BF01HAS.JPG"].subject == "F01" and records["BF01HAS.JPG"].take == "B-S"
    assert (records["BM12SUFL.jpg"].subject, records["BM12SUFL.jpg"].meta["gender"]) == ("M12", "male")
    assert set(_skips_by_name(result)) == {"AF01XXS.JPG", "AF01HAS (copy).JPG"}
    assert all("KDEF pattern" in s.reason for s in result.skipped)


def test_ckplus_first_frame_neutral_last_frames_peak(tmp_path):
    result = _read(tmp_path, "ckplus")
    chosen = {(r.subject, r.meta["sequence"], r.meta["frame"]): r for r in result.records}
    assert sorted(chosen) == [
        ("S005", "001", 1), ("S005", "001", 4), ("S005", "001", 5), ("S005", "001", 6),
        ("S005", "002", 1),  # unlabelled: only the neutral first frame
        ("S010", "001", 1), ("S010", "001", 2),  # two frames: the first is never a peak
    ]
    onset, peak = chosen[("S005", "001", 1)], chosen[("S005", "001", 6)]
    assert (onset.expression, onset.meta["phase"], onset.meta["label"]) == ("neutral", "onset", "0")
    assert (peak.expression, peak.meta["phase"], peak.meta["label"]) == ("disgust", "peak", "3")
    assert peak.take == "S005/001/6"
    assert chosen[("S005", "002", 1)].expression == "neutral"
    assert chosen[("S010", "001", 2)].expression == "happy"
    # as many frames as peak_frames: the onset frame still stays neutral only
    two = read_dataset(tmp_path / "ckplus", "ckplus", peak_frames=2)
    assert sorted((r.meta["frame"], r.expression) for r in two.records if r.subject == "S010") == [
        (1, "neutral"), (2, "happy")]
    assert _skips_by_name(result) == {"frame7.png": "name does not follow the CK+ pattern S005_001_00000001.png"}


def test_ckplus_peak_frames_option_and_bad_labels(tmp_path):
    labelled = {("S005", "001"): "7.0", ("S005", "002"): "happy", ("S099", "001"): "1"}
    root = make_ckplus(tmp_path / "ck", labelled=labelled)
    (root / "Emotion" / "S005" / "001" / "S005_001_emotion.txt").write_text("3")
    result = read_dataset(root, "ckplus", peak_frames=1)
    frames = sorted((r.meta["sequence"], r.meta["frame"], r.expression) for r in result.records if r.subject == "S005")
    assert frames == [("001", 1, "neutral"), ("001", 6, "surprise"), ("002", 1, "neutral")]
    skips = _skips_by_name(result)
    assert "is not a code 0-7" in skips["S005_002_00000004_emotion.txt"]
    assert skips["S099_001_00000009_emotion.txt"] == "CK+ emotion label of a sequence without images"
    assert "CK+ pattern S005_001_00000011_emotion.txt" in skips["S005_001_emotion.txt"]
    # S005/001: onset + frames 2-6 (never the onset twice); S005/002 and S010/001: onset only
    assert len(read_dataset(root, "ckplus", peak_frames=5).records) == 1 + 5 + 1 + 1
    with pytest.raises(ValueError, match="peak_frames"):
        read_dataset(root, "ckplus", peak_frames=0)


def test_rafd_fields(tmp_path):
    result = _read(tmp_path, "rafd")
    records = _by_name(result)
    assert len(records) == 5
    happy = records["Rafd090_01_Caucasian_female_happy_frontal.jpg"]
    assert (happy.subject, happy.expression, happy.take) == ("01", "happy", "090-frontal")
    assert happy.meta == {
        "label": "happy", "angle": 90, "gaze": "frontal", "ethnicity": "caucasian", "gender": "female"}
    contempt = records["Rafd045_01_Caucasian_female_contemptuous_left.jpg"]
    assert (contempt.expression, contempt.meta["angle"], contempt.meta["gaze"]) == ("contempt", 45, "left")
    fear = records["Rafd135_07_Moroccan_male_fearful_right.jpg"]
    assert (fear.subject, fear.expression) == ("07", "fear")
    assert (fear.meta["ethnicity"], fear.meta["gender"]) == ("moroccan", "male")
    skips = _skips_by_name(result)
    assert "unknown RaFD expression 'bored'" in skips["Rafd090_07_Moroccan_male_bored_frontal.jpg"]
    assert "RaFD pattern" in skips["Rafd_01_female_happy.jpg"]


def test_frl_london_fields_and_info(tmp_path):
    result = _read(tmp_path, "frl_london")
    records = _by_name(result)
    assert sorted(records) == ["001_03.jpg", "001_08.jpg", "002_03.jpg", "002_08.jpg", "017_03.jpg", "017_08.jpg"]
    neutral, smiling = records["001_03.jpg"], records["001_08.jpg"]
    assert (neutral.subject, neutral.expression, neutral.take) == ("001", "neutral", "03")
    assert (smiling.expression, smiling.meta["label"], smiling.meta["view"]) == ("happy", "smiling", "front")
    assert neutral.meta["face_age"] == 24 and neutral.meta["face_gender"] == "female"
    assert records["002_08.jpg"].meta["face_eth"] == "east_asian"  # id "2" in the CSV matches "002"
    assert "face_age" not in records["017_03.jpg"].meta  # NA is left out, not stored as text
    assert records["017_03.jpg"].meta["face_eth"] == "black"
    skips = _skips_by_name(result)
    assert skips == {"017-08.jpg": "name does not follow the FRL London pattern smiling_front/NNN_TT.jpg"}


def test_generic_tree_ignores_sidecars_and_skips_stray_images(tmp_path):
    result = _read(tmp_path, "generic")
    assert all(Path(r.path).suffix != ".json" for r in result.records)
    assert len(result.records) == 7
    assert Counter((r.subject, r.expression) for r in result.records) == {
        ("alice", "neutral"): 2, ("alice", "happy"): 1, ("alice", "sleepy"): 1,
        ("bob", "neutral"): 1, ("bob", "happy"): 1, ("bob", "sleepy"): 1,
    }
    happy = next(r for r in result.records if r.expression == "happy")
    assert (happy.take, happy.meta["label"], happy.source) == ("1", "Happiness", "generic")
    # 1.png and 1.jpg share the stem; their takes are made unique with the path
    assert sorted(r.take for r in result.records if (r.subject, r.expression) == ("alice", "neutral")) == [
        "1/alice/neutral/1.jpg", "1/alice/neutral/1.png"]
    assert set(_skips_by_name(result)) == {"contact_sheet.png", "portrait.png"}
    assert all("ROOT/<subject>/<expression>/<image>" in s.reason for s in result.skipped)


def test_csv_manifest_resolves_relative_paths(tmp_path):
    root = make_csv(tmp_path / "ds")
    result = read_dataset(root, "csv")
    records = _by_name(result)
    assert records["a.png"].path == str((root / "images" / "a.png").resolve())
    assert Path(records["c.png"].path).is_absolute() and Path(records["c.png"].path).is_file()
    assert (records["a.png"].expression, records["a.png"].meta["label"], records["a.png"].meta["age"]) == (
        "happy", "Happiness", 31)
    assert records["b.png"].expression == "neutral" and records["b.png"].source == "studio"
    assert records["a.png"].source == "csv" and records["c.png"].take == "1"
    reasons = sorted(s.reason for s in result.skipped)
    assert reasons == [
        "listed in manifest.csv but no such file",
        "listed more than once in manifest.csv",
        "row of manifest.csv has no expression",
    ]
    # the CSV file itself works too, and gives the same records
    assert read_dataset(root / "manifest.csv").records == result.records


def test_csv_manifest_without_expression_column_is_refused(tmp_path):
    _image(tmp_path / "a.png")
    (tmp_path / "list.csv").write_text("path,subject\na.png,p1\n")
    with pytest.raises(BadInputError, match="lacks column.*expression"):
        read_dataset(tmp_path / "list.csv")


# --- every reader: invariants, detection, errors -------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(MAKERS))
def test_auto_detection_picks_each_layout(tmp_path, fmt):
    root = MAKERS[fmt](tmp_path / "data")
    assert detect_format(root) == fmt
    result = read_dataset(root)
    assert result.format == fmt
    assert {r.source for r in result.records} <= {fmt, "studio"}


@pytest.mark.parametrize("fmt", sorted(MAKERS))
def test_records_are_absolute_unique_sorted_and_labelled(tmp_path, fmt):
    root = MAKERS[fmt](tmp_path / "data")
    result = FORMATS[fmt](root)
    assert result.records and result.skipped
    assert all(Path(r.path).is_absolute() and Path(r.path).is_file() for r in result.records)
    keys = [(r.source, r.subject, r.expression, r.take) for r in result.records]
    assert len(set(keys)) == len(keys)
    assert [(r.source, r.subject, r.path) for r in result.records] == sorted(
        (r.source, r.subject, r.path) for r in result.records)
    assert all(r.meta.get("label") for r in result.records)
    assert all(s.reason and "\n" not in s.reason for s in result.skipped)
    assert FORMATS[fmt](root) == result  # deterministic


def test_kdef_is_detected_from_the_parent_or_the_kdef_folder(tmp_path):
    root = make_kdef(tmp_path / "data")
    assert detect_format(root / "KDEF") == "kdef"


def test_unknown_layout_and_missing_root_are_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    _image(tmp_path / "loose.png")
    unknown = r"cannot recognise the dataset layout \(tried ckplus, .*generic\); pass --format"
    with pytest.raises(BadInputError, match=unknown):
        detect_format(tmp_path)
    with pytest.raises(BadInputError, match=unknown):
        detect_format(tmp_path / "notes.txt")
    with pytest.raises(BadInputError, match="no such file or folder"):
        read_dataset(tmp_path / "absent")
    with pytest.raises(BadInputError, match="no such file or folder"):
        FORMATS["jaffe"](tmp_path / "absent")
    with pytest.raises(BadInputError, match="unknown format 'lfw'"):
        read_dataset(tmp_path, "lfw")


def test_forced_format_overrides_detection_and_reports_empty_reads(tmp_path):
    jaffe = make_jaffe(tmp_path / "jaffe")
    with pytest.raises(BadInputError, match="no usable rafd images found; 7 file\\(s\\) skipped, e.g. .*RaFD pattern"):
        read_dataset(jaffe, "rafd")
    sorted_jaffe = tmp_path / "sorted"
    _image(sorted_jaffe / "KA" / "happy" / "KA.HA1.29.tiff", "TIFF")
    _image(sorted_jaffe / "KA" / "neutral" / "KA.NE1.26.tiff", "TIFF")
    assert detect_format(sorted_jaffe) == "jaffe"
    forced = read_dataset(sorted_jaffe, "generic")
    assert forced.format == "generic"
    assert [(r.subject, r.expression, r.take) for r in forced.records] == [
        ("KA", "happy", "KA.HA1.29"), ("KA", "neutral", "KA.NE1.26")]


def test_a_stray_file_does_not_change_the_detected_layout(tmp_path):
    generic = make_generic(tmp_path / "generic")
    _image(generic / "alice" / "neutral" / "KA.HA1.29.tiff", "TIFF")
    assert detect_format(generic) == "generic"


# --- the real folders ---------------------------------------------------------------------------


def test_real_yale_folder(yalefaces):
    result = read_dataset(yalefaces)
    assert result.format == "yale"
    assert len(result.records) == 155 and len(result.skipped) == 9
    assert len(result.records) + len(result.skipped) == 164
    skips = _skips_by_name(result)
    assert skips["subject04.sad"] == "identical to subject04.normal (duplicate file)"
    assert not any(r.subject == "subject04" and r.expression == "sad" for r in result.records)
    for number in ("02", "03", "06", "07", "09", "12", "14"):
        assert skips[f"subject{number}.noglasses"] == f"identical to subject{number}.normal (duplicate file)"
    assert skips["subject08.glasses"] == "identical to subject08.normal (duplicate file)"
    assert len(skips) == 9
    subjects = {r.subject for r in result.records}
    assert len(subjects) == 15
    assert not any(Path(r.path).name == "subject01.centerlight" for r in result.records)
    assert sum(r.subject == "subject01" for r in result.records) == 10
    for subject in subjects:
        references = [r for r in result.records if r.subject == subject and r.meta.get("reference")]
        assert len(references) == 1
        assert references[0].expression == "neutral" and references[0].meta["label"] == "normal"
    assert Counter(r.expression for r in result.records) == {
        "neutral": 81, "happy": 15, "sleepy": 15, "surprise": 15, "wink": 15, "sad": 14}


def test_real_frl_london_folder(frl_london):
    result = read_dataset(frl_london)
    assert result.format == "frl_london"
    assert len(result.records) == 164 and not result.skipped
    assert len({r.subject for r in result.records}) == 82
    assert Counter(r.expression for r in result.records) == {"neutral": 82, "happy": 82}
    with open(frl_london / "london_info.csv", newline="") as handle:
        info = {row["face_id"]: row for row in csv.DictReader(handle)}
    for record in result.records:
        row = info[record.subject]
        assert record.meta.get("face_age") == (None if row["face_age"] == "NA" else int(row["face_age"]))
        assert (record.meta["face_gender"], record.meta["face_eth"]) == (row["face_gender"], row["face_eth"])
    assert all(Path(r.path).suffix == ".jpg" for r in result.records)


@pytest.mark.parametrize("extension", [".jpg", ".PNG", ".TIF", ".bmp"])
def test_readers_accept_any_image_extension_where_the_name_pattern_holds(tmp_path, extension):
    """Copies of JAFFE, KDEF, RaFD and FRL London circulate converted to other formats: the name pattern
    decides, not the extension (detection of the layout included)."""
    formats = {".jpg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".bmp": "BMP"}[extension.lower()]
    layouts = {
        "jaffe": ["KA.AN1.39", "KA.HA1.29", "KM.NE2.17"],
        "kdef": ["KDEF/AF01/AF01HAS", "KDEF/AF01/AF01NES", "KDEF/BM12/BM12SUS"],
        "rafd": ["Rafd090_01_Caucasian_female_happy_frontal", "Rafd090_01_Caucasian_female_neutral_frontal"],
        "frl_london": ["neutral_front/001_03", "smiling_front/001_08"],
    }
    for fmt, names in layouts.items():
        root = tmp_path / fmt
        for name in names:
            _image(root / f"{name}{extension}", formats)
        detected = read_dataset(root)
        assert detected.format == fmt and len(detected.records) == len(names) and not detected.skipped, fmt
