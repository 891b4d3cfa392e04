"""Benchmark of the identity judge's descriptor network on the CPU: dlib per face against the PyTorch port batched.

On N = ``--faces`` (64) aligned 150 px face chips it measures chips per second of

* ``dlib_per_face``: ``face_recognition_model_v1.compute_face_descriptor(chip)``
  in a Python loop, as :class:`facexpr.judges.IdentityJudge` calls it;
* ``dlib_batched``: dlib's own batch call (a list of chips), for reference;
* ``torch_batch<B>``: :func:`facexpr.judges.dlib_resnet.descriptors_from_chips`
  in batches of B under ``torch.inference_mode`` (contiguous NCHW), and
  ``torch_batch64_channels_last`` / ``torch_batch64_no_grad`` variants;
* ``torch_batch64_one_thread``: the same with one torch thread (dlib's CPU
  network runs on one);

each the median of ``--repeats`` runs after one warm-up, and the port's largest
absolute difference from dlib's descriptors on those chips. The chips are
dlib's (``dlib.get_face_chip``) of Face Research Lab London photos when
``../shared/data/frl_london`` is present, otherwise random pixels (the
timings do not depend on the content).

Run from the repository root::

    .venv/bin/python benchmarks/identity_judge.py --out benchmarks/results/identity_judge.json
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import dlib
import numpy as np
import torch
from common import machine_info, write_report

from facexpr.faces.models import FACE_DESCRIPTOR, model_file, shape_predictor
from facexpr.io import load_image
from facexpr.judges.dlib_resnet import CHIP_SIZE, descriptors_from_chips, load_dlib_resnet

TARGETS = {"speedup_torch_batched_vs_dlib_per_face": 5.0}
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "identity_judge.json"
FRL = Path(__file__).resolve().parents[2] / "shared" / "data" / "frl_london"


def _median_seconds(function: Callable[[], Any], repeats: int) -> float:
    """Median wall seconds of ``function`` over ``repeats`` runs after one warm-up."""
    function()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return float(np.median(times))


def face_chips(count: int) -> tuple[np.ndarray, str]:
    """``count`` (N, 150, 150, 3) uint8 chips and where they came from (FRL photos, repeated if needed, or noise)."""
    photos = sorted(FRL.glob("*_front/*.jpg")) if FRL.is_dir() else []
    if not photos:
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, size=(count, CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8), "random pixels"
    detector, predictor = dlib.get_frontal_face_detector(), shape_predictor()
    chips = []
    for path in photos:
        photo = np.ascontiguousarray(load_image(path)[..., :3])
        faces = detector(photo, 0)
        if faces:
            chips.append(dlib.get_face_chip(photo, predictor(photo, faces[0]), CHIP_SIZE))
        if len(chips) == count:
            break
    found = len(chips)
    return np.stack([chips[i % found] for i in range(count)]), f"dlib chips of {found} Face Research Lab London photos"


def _torch_runner(batch: torch.Tensor, batch_size: int, mode: str) -> Callable[[], torch.Tensor]:
    """A function computing the descriptors of ``batch`` in chunks of ``batch_size`` under ``mode``."""
    def run() -> torch.Tensor:
        context = torch.no_grad() if mode == "no_grad" else torch.inference_mode()
        with context:
            chunks = [batch[i : i + batch_size] for i in range(0, len(batch), batch_size)]
            return torch.cat([descriptors_from_chips(chunk) for chunk in chunks])
    return run


def run(faces: int, repeats: int) -> dict[str, Any]:
    """Every measurement of the module docstring."""
    chips, source = face_chips(faces)
    model = dlib.face_recognition_model_v1(str(model_file(FACE_DESCRIPTOR)))
    load_dlib_resnet()  # build the cache and load outside the timings
    batch = torch.from_numpy(chips).permute(0, 3, 1, 2).contiguous()
    seconds = {
        "dlib_per_face": _median_seconds(lambda: [model.compute_face_descriptor(c) for c in chips], repeats),
        "dlib_batched": _median_seconds(lambda: model.compute_face_descriptor(list(chips)), repeats),
    }
    for size in (1, 8, 16, 32, 64):
        seconds[f"torch_batch{size}"] = _median_seconds(_torch_runner(batch, size, "inference_mode"), repeats)
    seconds["torch_batch64_no_grad"] = _median_seconds(_torch_runner(batch, 64, "no_grad"), repeats)
    last = batch.contiguous(memory_format=torch.channels_last)
    seconds["torch_batch64_channels_last"] = _median_seconds(_torch_runner(last, 64, "inference_mode"), repeats)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        seconds["torch_batch64_one_thread"] = _median_seconds(_torch_runner(batch, 64, "inference_mode"), repeats)
    finally:
        torch.set_num_threads(threads)
    reference = np.array([np.array(model.compute_face_descriptor(c)) for c in chips])
    ours = _torch_runner(batch, 64, "inference_mode")().numpy()
    per_second = {f"{key}_chips_per_second": faces / value for key, value in seconds.items()}
    best_torch = min((key for key in seconds if key.startswith("torch") and "one_thread" not in key), key=seconds.get)
    results = {
        **per_second,
        "speedup_torch_batched_vs_dlib_per_face": seconds["dlib_per_face"] / seconds["torch_batch64"],
        "speedup_best_torch_vs_dlib_per_face": seconds["dlib_per_face"] / seconds[best_torch],
        "best_torch": best_torch,
        "speedup_torch_batch64_one_thread_vs_dlib_per_face": seconds["dlib_per_face"]
        / seconds["torch_batch64_one_thread"],
        "max_abs_difference_vs_dlib": float(np.abs(ours - reference).max()),
        "faces": faces,
        "chips": source,
    }
    return {
        "benchmark": "identity_judge",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "repeats": repeats,
        "targets": TARGETS,
        "meets_targets": {key: results[key] >= limit for key, limit in TARGETS.items()},
        "results": results,
    }


def main() -> None:
    """Command line: run the benchmark and write its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write.")
    parser.add_argument("--faces", type=int, default=64, help="Face chips per measurement (N).")
    parser.add_argument("--repeats", type=int, default=5, help="Timed runs per measurement (the median is kept).")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    write_report(args.out, run(args.faces, args.repeats))


if __name__ == "__main__":
    main()
