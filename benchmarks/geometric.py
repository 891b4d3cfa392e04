"""Benchmark of the geometric model on the CPU: fit time, apply time per crop, and ``facexpr neutralize`` end to end.

In one run it measures:

* ``fit_seconds``: :func:`fit_geometric` without its refiner (the closed-form
  part) on 100 expressive -> neutral pairs of synthetic people it renders
  itself (50 people, happy and surprise, 128 px crops: 150 crops), landmark
  search, cross-validation of alpha and the appearance step included, median
  of ``--repeats`` runs after a warm-up; ``fit_seconds_with_refiner``: one
  fit with the default options (a refiner per expression: neutral, happy,
  surprise);
* ``apply_ms_per_crop_batch64`` / ``_batch1``: the shipped model's
  :meth:`predict` per 128 px crop (landmark search included), and
  ``apply_ms_per_crop_batch64_given_landmarks`` (landmarks passed in, as from
  a manifest);
* ``neutralize_ms``: ``apply_to_photos`` on one 675 px photo (a Face Research
  Lab London photo when ``../shared/data`` is present, otherwise a synthetic
  render), steady state (the models loaded once), and its parts:
  ``read_ms`` (decode the file), ``align_ms`` (face detection, landmarks,
  alignment, pose and cues), ``model_ms`` and ``write_ms`` (PNG of the crop).

Run from the repository root::

    .venv/bin/python benchmarks/geometric.py --out benchmarks/results/geometric.json
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from common import machine_info, write_report

from facexpr.data.pairing import PreparedDataset
from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.synthetic import (
    EXPRESSIONS,
    generate_dataset,
    identity_from_seed,
    render_face,
)
from facexpr.faces import FacePipeline
from facexpr.inference import apply_to_photos
from facexpr.io import load_image, write_image_atomic
from facexpr.models.geometric import GeometricOptions, default_model
from facexpr.models.geometric.model import find_landmarks
from facexpr.training.geometric_fit import fit_geometric

TARGETS = {"fit_seconds": 5.0, "apply_ms_per_crop_batch64": 3.0, "neutralize_ms": 150.0}
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "geometric.json"
FRL_PHOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "frl_london" / "smiling_front" / "001_08.jpg"


def _timed(function: Callable[[], Any], repeats: int) -> float:
    """Median wall milliseconds of ``function`` over ``repeats`` runs after one warm-up."""
    function()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return 1000.0 * float(np.median(times))


def run(repeats: int, work: Path) -> dict[str, Any]:
    """Every measurement of the module docstring."""
    generate_dataset(work / "raw", n_subjects=50, expressions=("neutral", "happy", "surprise"), size=160, seed=1)
    prepare_dataset(work / "raw", work / "prepared", PrepareOptions(size=128, split_ratios=(1.0, 0.0, 0.0)))
    prepared = PreparedDataset(work / "prepared", cache_size=None)
    expressive = sum(not r.is_neutral for r in prepared.records)
    fit_ms = _timed(lambda: fit_geometric([prepared], None, GeometricOptions(refine_steps=0)), max(1, repeats // 2))
    began = time.perf_counter()
    fit_geometric([prepared], None)
    refined_seconds = time.perf_counter() - began

    model = default_model()
    crops = torch.stack([prepared.load(r) for r in prepared.records[:64]])
    landmarks = find_landmarks(crops).unsqueeze(1)
    with torch.no_grad():
        batch64 = _timed(lambda: model.predict(crops.unsqueeze(1)), repeats) / len(crops)
        given = _timed(lambda: model.predict(crops.unsqueeze(1), landmarks=landmarks), repeats) / len(crops)
        batch1 = _timed(lambda: model.predict(crops[:1].unsqueeze(1)), max(21, repeats))

    if FRL_PHOTO.is_file():
        photo, source = FRL_PHOTO, "Face Research Lab London 001_08.jpg (675 px)"
    else:
        face = render_face(identity_from_seed(3), EXPRESSIONS["happy"], 675)
        photo, source = work / "photo.png", "synthetic render (675 px)"
        write_image_atomic(photo, face.image)
    pipeline = FacePipeline(size=model.size)
    image = load_image(photo)
    aligned = pipeline.process(image)[0]
    crop = torch.from_numpy(aligned.image).permute(2, 0, 1).float().div(255).reshape(1, 1, 3, model.size, model.size)
    output = (model.predict(crop)[0].permute(1, 2, 0) * 255).round().byte().numpy()
    parts = {
        "read_ms": _timed(lambda: load_image(photo), repeats),
        "align_ms": _timed(lambda: pipeline.process(image), repeats),
        "model_ms": _timed(lambda: model.predict(crop), repeats),
        "write_ms": _timed(lambda: write_image_atomic(work / "out.png", output), repeats),
    }
    total = _timed(lambda: apply_to_photos(model, [photo], work / "neutralized"), repeats)
    results = {
        "fit_seconds": fit_ms / 1000.0,
        "fit_seconds_with_refiner": refined_seconds,
        "fit_pairs": expressive,
        "fit_crops": len(prepared.records),
        "apply_ms_per_crop_batch64": batch64,
        "apply_ms_per_crop_batch64_given_landmarks": given,
        "apply_ms_per_crop_batch1": batch1,
        "neutralize_ms": total,
        **parts,
        "neutralize_photo": source,
        "neutralize_dominated_by": max(parts, key=parts.get),
    }
    return {
        "benchmark": "geometric",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "repeats": repeats,
        "targets": TARGETS,
        "meets_targets": {key: results[key] <= limit for key, limit in TARGETS.items()},
        "results": results,
    }


def main() -> None:
    """Command line: run the benchmark and write its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write.")
    parser.add_argument("--repeats", type=int, default=7, help="Timed runs per measurement (the median is kept).")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as work:
        report = run(args.repeats, Path(work))
    write_report(args.out, report)


if __name__ == "__main__":
    main()
