"""Benchmark of masked regression on the CPU: fit time, apply time, peak memory, and a naive reference.

On random 128 x 128 RGB crops (timing does not depend on the content) it
measures, in one run:

* ``fit_ms``: fitting one r = 3 colour-tuple mapping on 82 pairs
  (:meth:`MaskedRegression.fit_batches`, data already in memory), median of
  ``--repeats`` runs after a warm-up; ``fit_ms_channel`` the same for the
  per-channel model;
* ``reference_ms``: the same fit written as a straight NumPy einsum over the
  (pixels x taps x samples) patch array followed by ``np.linalg.solve`` (one
  run: it takes seconds), the ratio ``reference_ms / fit_ms`` and the largest
  difference between the two solutions' weights;
* ``apply_ms_per_face_batch64`` / ``_batch1``: :meth:`predict` per face (ego
  refinement on, as trained by default), median of ``--repeats`` runs (at
  least 21 for single faces);
* ``peak_rss_mb``: the peak resident memory (``VmHWM``) of a fresh Python
  process that fits 1,000 pairs at 128 x 128 streamed in batches of 64,
  generated on the fly (``memory_fit_seconds``), with ``rss_after_import_mb``
  for the same process before fitting (torch alone is most of it).

Wall times are also given as process CPU time (``*_cpu_ms``), which a busy
machine disturbs less; ``machine.load_average`` says how busy it was.

Run from the repository root::

    .venv/bin/python benchmarks/masked_regression.py --out benchmarks/results/masked_regression.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from common import machine_info, write_report

from facexpr.models.masked_regression import MaskedRegression, ReceptiveField
from facexpr.models.masked_regression.model import DEFAULT_LAMBDA

SIZE, CHANNELS, PAIRS, MEMORY_PAIRS, MEMORY_BATCH = 128, 3, 82, 1000, 64
TARGETS = {"fit_ms": 100.0, "apply_ms_per_face_batch64": 0.5, "apply_ms_per_face_batch1": 2.0, "peak_rss_mb": 1024.0}
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "masked_regression.json"


def _timed(function: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``function`` over ``repeats`` runs after one warm-up."""
    function()
    wall, cpu = [], []
    for _ in range(repeats):
        began_wall, began_cpu = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - began_wall)
        cpu.append(time.process_time() - began_cpu)
    return 1000.0 * float(np.median(wall)), 1000.0 * float(np.median(cpu))


def reference_fit(inputs: np.ndarray, targets: np.ndarray, lam: float) -> np.ndarray:
    """The colour-tuple r = 3 fit as a straight NumPy einsum: (G=1, K + 1, H, W) weights, bias last.

    Every pixel's taps are gathered into a (samples, pixels, taps) patch array
    (replicated border), centred, and each pixel's ridge system is formed by
    einsum and solved by ``np.linalg.solve``: the same objective as
    :class:`RidgeAccumulator` (lambda against the pair-summed error).
    """
    pairs, channels, height, width = inputs.shape
    x = inputs.reshape(-1, height, width).astype(np.float64)
    y = targets.reshape(-1, height * width).astype(np.float64)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))
    patches = windows.reshape(x.shape[0], height * width, 9)
    centred_x = patches - patches.mean(0)
    centred_y = y - y.mean(0)
    samples = x.shape[0]
    gram = np.einsum("spk,spl->pkl", centred_x, centred_x) / samples + (lam / pairs) * np.eye(9)
    cross = np.einsum("spk,sp->pk", centred_x, centred_y) / samples
    weights = np.linalg.solve(gram, cross[..., None])[..., 0]
    bias = y.mean(0) - (weights * patches.mean(0)).sum(1)
    return np.concatenate([weights.T, bias[None]]).reshape(1, 10, height, width)


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    Linux's ``VmHWM`` (/proc/self/status) belongs to this program's address
    space only; ``ru_maxrss`` also counts what the parent held when it
    started us, so it is the fallback where /proc is missing.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def memory_child(pairs: int) -> dict[str, float]:
    """Fit ``pairs`` random 128 px pairs streamed in batches (run in a fresh process); peak RSS before and after."""
    before = _peak_rss_mb()
    generator = torch.Generator().manual_seed(1)

    def batches():
        """Random pairs, ``MEMORY_BATCH`` at a time: only one batch exists at once."""
        for start in range(0, pairs, MEMORY_BATCH):
            count = min(MEMORY_BATCH, pairs - start)
            yield (torch.rand(count, CHANNELS, SIZE, SIZE, generator=generator),
                   torch.rand(count, CHANNELS, SIZE, SIZE, generator=generator))

    began = time.perf_counter()
    MaskedRegression.fit_batches(batches(), field=ReceptiveField(3, 1))
    return {"rss_after_import_mb": round(before, 1), "peak_rss_mb": round(_peak_rss_mb(), 1),
            "seconds": round(time.perf_counter() - began, 3)}


def run(repeats: int, threads: int) -> dict[str, Any]:
    """Every measurement of the module docstring, as one JSON-ready dict."""
    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(PAIRS, CHANNELS, SIZE, SIZE, generator=generator)
    targets = torch.rand(PAIRS, CHANNELS, SIZE, SIZE, generator=generator)
    field = ReceptiveField(3, 1)

    def fit(colour: str) -> MaskedRegression:
        """One fit of the 82 in-memory pairs."""
        return MaskedRegression.fit_batches([(inputs, targets)], field=field, colour=colour)

    fit_ms, fit_cpu_ms = _timed(lambda: fit("tuple"), repeats)
    fit_channel_ms, fit_channel_cpu_ms = _timed(lambda: fit("channel"), repeats)
    model = fit("tuple")

    began_wall, began_cpu = time.perf_counter(), time.process_time()
    reference = reference_fit(inputs.numpy(), targets.numpy(), DEFAULT_LAMBDA)
    reference_ms = 1000.0 * (time.perf_counter() - began_wall)
    reference_cpu_ms = 1000.0 * (time.process_time() - began_cpu)
    difference = float(np.abs(reference - model.weights.double().numpy()).max())

    batch64 = torch.rand(64, 1, CHANNELS, SIZE, SIZE, generator=generator)
    batch1 = batch64[:1].clone()
    apply64, apply64_cpu = (v / 64 for v in _timed(lambda: model.predict(batch64), repeats))
    apply1, apply1_cpu = _timed(lambda: model.predict(batch1), max(repeats, 21))

    child = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(MEMORY_PAIRS), "--threads", str(threads)],
        check=True, capture_output=True, text=True,
    )
    memory = json.loads(child.stdout)
    results = {
        "fit_ms": round(fit_ms, 2),
        "fit_cpu_ms": round(fit_cpu_ms, 2),
        "fit_ms_channel": round(fit_channel_ms, 2),
        "fit_cpu_ms_channel": round(fit_channel_cpu_ms, 2),
        "reference_ms": round(reference_ms, 1),
        "reference_cpu_ms": round(reference_cpu_ms, 1),
        "reference_over_fit": round(reference_ms / fit_ms, 1),
        "reference_max_abs_weight_difference": difference,
        "apply_ms_per_face_batch64": round(apply64, 4),
        "apply_cpu_ms_per_face_batch64": round(apply64_cpu, 4),
        "apply_ms_per_face_batch1": round(apply1, 4),
        "apply_cpu_ms_per_face_batch1": round(apply1_cpu, 4),
        "peak_rss_mb": memory["peak_rss_mb"],
        "rss_after_import_mb": memory["rss_after_import_mb"],
        "memory_fit_seconds": memory["seconds"],
    }
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "data": (f"random {SIZE}x{SIZE} RGB crops: {PAIRS} pairs for fit and reference, r=3, dilation 1, "
                 f"lambda {DEFAULT_LAMBDA}; {MEMORY_PAIRS} pairs streamed in batches of {MEMORY_BATCH} for memory"),
        "repeats": repeats,
        "results": results,
        "targets": TARGETS,
        "meets_targets": {key: results[key] < limit for key, limit in TARGETS.items()},
    }


def main() -> None:
    """Command line: run the benchmark and write its JSON (or, internally, the memory child)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write.")
    parser.add_argument("--repeats", type=int, default=7, help="Timed runs per measurement (the median is kept).")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads.")
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child is not None:
        torch.set_num_threads(args.threads)
        print(json.dumps(memory_child(args.memory_child)))
        return
    report = run(args.repeats, args.threads)
    write_report(args.out, report)


if __name__ == "__main__":
    main()
