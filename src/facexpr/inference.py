"""Apply a trained model to raw photos: detect, align, map, write crops (and paste them back); or classify them.

This is what ``facexpr neutralize``, ``facexpr synthesize`` and ``facexpr
classify`` run. Photos of any size go through the same
:class:`facexpr.faces.FacePipeline` as training data, at the model's crop size
and colour. A model that uses several photos of one person together
(``max_inputs > 1``, the multi-image neutralizer) gets all of them at once and
produces one face; single-image models map each photo on its own.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from facexpr.faces import FacePipeline, paste_back, paste_warp
from facexpr.faces.pipeline import AlignedFace
from facexpr.io import (
    BadInputError,
    from_uint8,
    load_image,
    to_uint8,
    write_image_atomic,
)
from facexpr.models import Classifier, FaceModel, WarpingModel

Progress = Callable[[int, int, str], None]


@dataclass
class AppliedPhotos:
    """What :func:`apply_to_photos` wrote: output crops, pasted photos, and photos skipped with their reason."""

    outputs: list[Path] = field(default_factory=list)
    pasted: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _aligned(pipeline: FacePipeline, photo: Path) -> tuple[np.ndarray, AlignedFace]:
    """The photo and its largest face aligned for the model.

    Raises:
        BadInputError: unreadable photo or no face found.
    """
    image = load_image(photo, grey=pipeline.grey)
    faces = pipeline.process(image)
    if not faces:
        raise BadInputError(photo, f"no face found ({pipeline.describe_search()})")
    return image, faces[0]


def output_stems(photos: Sequence[Path]) -> list[str]:
    """A distinct file-name stem per photo: its own stem, prefixed by folder names where stems repeat."""
    stems = [p.stem for p in photos]
    depth = 0
    while len(set(stems)) < len(stems) and depth < max(len(p.parts) for p in photos):
        depth += 1
        stems = ["_".join([*p.parent.parts[-depth:], p.stem]).lstrip("/_") for p in photos]
    if len(set(stems)) < len(stems):  # the same file twice
        stems = [f"{i:03d}_{stem}" for i, stem in enumerate(stems)]
    return stems


def apply_to_photos(
    model: FaceModel,
    photos: Sequence[str | Path],
    out_dir: str | Path,
    paste: bool = False,
    together: bool | None = None,
    progress: Progress | None = None,
    strength: float = 1.0,
) -> AppliedPhotos:
    """Run ``model`` on raw photos and write ``OUT/<stem>_<target>.png`` (aligned crops at the model's size;
    stems that repeat are prefixed by their folders, see :func:`output_stems`), ``target`` being the model's
    default expression (a :class:`~facexpr.models.ConditionalModel` is set to another with ``for_target``),
    produced at ``strength``.

    ``together`` (default: when the model takes several inputs) treats all
    photos as one person: one output ``OUT/<target>.png`` from all of them.
    With ``paste``, each output is also blended back into its photo(s) as
    ``OUT/<stem>_<target>_pasted.png``; a :class:`~facexpr.models.WarpingModel`
    (the geometric model) instead moves the photo's own pixels at full
    resolution (:func:`facexpr.faces.paste_warp`), so the face keeps the
    photo's detail. Photos that cannot be used (unreadable, no face) are
    skipped with a one-line reason; the rest still run.

    Raises:
        BadInputError: no photo given, or no usable face in any of them.
        ValueError: a strength the model cannot dial (checked before any photo is read).
    """
    if not photos:
        raise BadInputError(Path(out_dir), "no photo given")
    out_dir = Path(out_dir)
    target = model.check_request(None, strength)
    together = model.max_inputs > 1 if together is None else together
    pipeline = FacePipeline(size=model.size, grey=model.channels == 1)
    result = AppliedPhotos()
    paths = [Path(p) for p in photos]
    usable: list[tuple[str, np.ndarray, AlignedFace]] = []
    for done, (photo, stem) in enumerate(zip(paths, output_stems(paths)), start=1):
        try:
            usable.append((stem, *_aligned(pipeline, photo)))
        except BadInputError as error:
            result.skipped.append(str(error))
        if progress:
            progress(done, len(photos), photo.name)
    if not usable:
        raise BadInputError(Path(photos[0]), "no usable face in any photo: " + "; ".join(result.skipped))
    groups = [usable] if together else [[one] for one in usable]
    for group in groups:
        inputs = from_uint8([face.image for _, _, face in group]).unsqueeze(0).to(model.device)
        warps = None
        with torch.no_grad():
            if paste and isinstance(model, WarpingModel):  # one run gives the crop and what to paste
                predicted, grids, correction = model.warp_fields(inputs, target, strength)
                warps = (grids[0].cpu().numpy(), correction[0].permute(1, 2, 0).cpu().numpy())
            else:
                predicted = model.predict(inputs, target, strength)
        output = to_uint8(predicted[0])
        name = target if together else f"{group[0][0]}_{target}"
        path = out_dir / f"{name}.png"
        write_image_atomic(path, output)
        result.outputs.append(path)
        if paste:
            for index, (stem, image, face) in enumerate(group):
                pasted = out_dir / f"{stem}_{target}_pasted.png"
                if warps is None:
                    write_image_atomic(pasted, paste_back(image, output, face.matrix))
                else:
                    write_image_atomic(pasted, paste_warp(image, face.matrix, warps[0][index], warps[1]))
                result.pasted.append(pasted)
    return result


@dataclass
class ClassifiedPhotos:
    """What :func:`classify_photos` found: per usable photo its path and class probabilities, and the photos
    that could not be classified with their one-line reason."""

    classes: tuple[str, ...]
    paths: list[Path] = field(default_factory=list)
    probabilities: list[np.ndarray] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def csv_text(self) -> str:
        """CSV with a row per classified photo: ``path``, ``expression`` (the most probable class) and one
        ``p_<class>`` column per class."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["path", "expression", *(f"p_{name}" for name in self.classes)])
        for path, row in zip(self.paths, self.probabilities):
            writer.writerow([str(path), self.classes[int(np.argmax(row))], *(f"{p:.6f}" for p in row)])
        return buffer.getvalue()


def classify_photos(
    classifier: Classifier, photos: Sequence[str | Path], batch_size: int = 64, progress: Progress | None = None,
) -> ClassifiedPhotos:
    """The expression probabilities of the largest face of each photo, aligned as ``facexpr neutralize`` aligns
    it (:class:`~facexpr.faces.FacePipeline` at the classifier's crop size and colour).

    A photo that cannot be used (unreadable, no face) is listed in ``failed`` with its one-line reason; the
    others are still classified.
    """
    pipeline = FacePipeline(size=classifier.size, grey=classifier.channels == 1)
    result = ClassifiedPhotos(tuple(classifier.classes))
    crops: list[np.ndarray] = []
    for done, photo in enumerate(map(Path, photos), start=1):
        try:
            crops.append(_aligned(pipeline, photo)[1].image)
            result.paths.append(photo)
        except BadInputError as error:
            result.failed.append(str(error))
        if progress:
            progress(done, len(photos), photo.name)
    with torch.no_grad():
        for start in range(0, len(crops), batch_size):
            probabilities = classifier.classify(from_uint8(crops[start:start + batch_size]))
            result.probabilities.extend(probabilities.cpu().numpy())
    return result
