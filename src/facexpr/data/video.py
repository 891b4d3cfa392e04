"""``facexpr prepare clip.mp4``: one subject's neutral target and diverse expressive inputs from a video.

The thesis took frames at random. Here every sampled frame is aligned and
scored; among the frontal frames the most neutral one becomes the target and
the K inputs are chosen by farthest-point sampling of the aligned inner-face
landmark configuration (brows, eyes, nose, mouth), starting from the frame most
different from the target: the inputs cover the clip's range of expressions
instead of K near-copies of its longest expression.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from facexpr.data.prepare import (
    PrepareCache,
    PrepareOptions,
    PrepareResult,
    ProgressCallback,
    face_meta,
    finish_prepare,
)
from facexpr.data.records import FaceRecord, Skip
from facexpr.faces import AlignedFace, FacePipeline, neutrality_score, reference_cues
from facexpr.io import BadInputError, file_sha256, write_image_atomic

#: Scores aligned uint8 crops (S, S[, C]) by how neutral they look, higher = more neutral, one float each.
NeutralityScorer = Callable[[list[np.ndarray]], np.ndarray]
#: Inner landmarks (brows 17-26, nose 27-35, eyes 36-47, mouth 48-67): what an expression moves.
INNER = slice(17, 68)
#: A frame is frontal when |yaw| and |pitch - the clip's median pitch| are at most this many degrees.
#: Pitch is taken relative to the clip because the generic 3-D face biases it by several degrees per person.
MAX_POSE_DEGREES = 20.0


@dataclass
class ScoredFrame:
    """One sampled frame with its aligned face."""

    index: int
    seconds: float
    face: AlignedFace

    def shape(self) -> np.ndarray:
        """Inner-landmark configuration in crop units (comparable across frames: crops are aligned)."""
        return (self.face.landmarks[INNER] / self.face.image.shape[0]).ravel()

    def is_frontal(self, median_pitch: float) -> bool:
        """Head turned at most :data:`MAX_POSE_DEGREES` sideways, and up/down from the clip's usual pitch."""
        pose = self.face.pose
        return abs(pose.yaw) <= MAX_POSE_DEGREES and abs(pose.pitch - median_pitch) <= MAX_POSE_DEGREES


def frontal_frames(frames: list[ScoredFrame]) -> list[ScoredFrame]:
    """The frames that pass :meth:`ScoredFrame.is_frontal`."""
    if not frames:
        return []
    median_pitch = float(np.median([f.face.pose.pitch for f in frames]))
    return [f for f in frames if f.is_frontal(median_pitch)]


def neutral_scores(frames: list[ScoredFrame]) -> np.ndarray:
    """Per-frame neutrality: the absolute mouth score times the score against the clip's median cues.

    The absolute score knows that a neutral mouth is closed and level but not
    this person's brow height or eye opening; the relative one knows those
    but is fooled when most of the clip shows one expression. Their product
    needs both to agree.
    """
    reference = reference_cues([f.face.cues for f in frames])
    return np.array([f.face.neutrality * neutrality_score(f.face.cues, reference) for f in frames])


def sample_frames(path: Path, max_frames: int, pipeline: FacePipeline, progress: ProgressCallback | None = None) -> list[ScoredFrame]:
    """Decode the clip, align the largest face of up to ``max_frames`` evenly spaced frames."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise BadInputError(path, "cannot open video (unsupported codec or not a video file)")
    try:
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or 0
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        step = max(1, math.ceil(total / max_frames)) if total > 0 else 1
        frames: list[ScoredFrame] = []
        index = 0
        sampled = 0
        while sampled < max_frames:
            ok, bgr = capture.read()
            if not ok:
                break
            if index % step == 0:
                sampled += 1
                faces = pipeline.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                if faces:
                    frames.append(ScoredFrame(index, index / fps, faces[0]))
                if progress:
                    progress(sampled, min(max_frames, math.ceil(total / step)) if total else 0, f"frame {index}")
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise BadInputError(path, "video has no decodable frames")
    return frames


def select_frames(
    frames: list[ScoredFrame], inputs: int, neutrality: NeutralityScorer | None = None
) -> tuple[ScoredFrame, list[ScoredFrame]]:
    """The most neutral frontal frame and up to ``inputs`` frontal frames as different from it and each other as possible.

    ``neutrality`` scores the aligned crops (higher: more neutral); without it
    the geometric cues of :func:`neutral_scores` decide.
    """
    frontal = frontal_frames(frames)
    scores = neutral_scores(frontal) if neutrality is None else neutrality([f.face.image for f in frontal])
    target = frontal[int(np.argmax(scores))]
    others = [f for f in frontal if f is not target]
    if not others:
        return target, []
    shapes = np.stack([f.shape() for f in others])
    nearest = np.linalg.norm(shapes - target.shape(), axis=1)  # distance to the chosen set so far
    chosen: list[int] = []
    for _ in range(min(inputs, len(others))):
        pick = int(np.argmax(nearest))
        chosen.append(pick)
        nearest = np.minimum(nearest, np.linalg.norm(shapes - shapes[pick], axis=1))
        nearest[chosen] = -1.0
    return target, [others[i] for i in chosen]


def _frame_entry(frame: ScoredFrame, role: str, clip: str, out_dir: Path, distance: float) -> dict[str, Any]:
    """Write one selected frame's crop and return its cache entry."""
    crop = Path("crops") / "video" / clip / f"{role}_frame{frame.index:06d}.png"
    write_image_atomic(out_dir / crop, frame.face.image)
    meta = {**face_meta(frame.face), "role": role, "frame": frame.index, "seconds": round(frame.seconds, 3),
            "shape_distance": round(distance, 4)}
    return {"crop": crop.as_posix(), "meta": meta}


def prepare_video(
    path: str | Path,
    out_dir: str | Path,
    options: PrepareOptions | None = None,
    progress: ProgressCallback | None = None,
    neutrality: NeutralityScorer | None = None,
    neutrality_name: str = "cues",
) -> PrepareResult:
    """Prepare one clip: subject = the clip's name; target frame labelled neutral, inputs labelled expressive.

    ``neutrality`` (named ``neutrality_name`` in the cache key) picks the
    target frame; ``facexpr prepare`` passes the shipped geometric model's
    :meth:`~facexpr.models.geometric.GeometricModel.neutrality`, which the
    geometric cues alone (the default here) cannot match on subtle expressions.
    """
    options = options or PrepareOptions()
    path, out_dir = Path(path), Path(out_dir)
    started = time.monotonic()
    if not path.is_file():
        raise BadInputError(path, "no such file")
    clip = path.stem
    key = (f"{file_sha256(path)}:{options.cache_key()}-video-k{options.video_inputs}-m{options.video_max_frames}"
           f"-n{neutrality_name}")
    cache = PrepareCache(out_dir)
    entry = cache.get(key)
    reused = 1 if entry else 0
    if entry is None:
        pipeline = FacePipeline(size=options.size, grey=options.grey)
        frames = sample_frames(path, options.video_max_frames, pipeline, progress)
        if not frontal_frames(frames):
            entry = {"skip": f"no frontal face in {len(frames)} frame(s) with a face "
                             f"(|yaw| must be <= {MAX_POSE_DEGREES:g} degrees)"}
        else:
            target, chosen = select_frames(frames, options.video_inputs, neutrality)
            entries = [_frame_entry(target, "target", clip, out_dir, 0.0)]
            entries += [_frame_entry(f, "input", clip, out_dir, float(np.linalg.norm(f.shape() - target.shape())))
                        for f in chosen]
            entry = {"faces": entries}
        cache.put(key, entry)
        cache.save()
    records: list[FaceRecord] = []
    skipped: list[Skip] = []
    if "skip" in entry:
        skipped.append(Skip(str(path), entry["skip"], clip))
    for face in entry.get("faces", []):
        role = face["meta"]["role"]
        records.append(FaceRecord(
            path=face["crop"], subject=clip, expression="neutral" if role == "target" else "expressive",
            take=str(face["meta"]["frame"]), source="video",
            meta={**face["meta"], "source_path": str(path), "sha256": key.split(":")[0]},
        ))
    return finish_prepare(out_dir, path, "video", records, skipped, options, reused, started)
