"""``facexpr benchmark``: fit time, inference speed, parameter count and file size of every model family.

Runs on synthetic faces the project generates (so it works anywhere), at 64
and 128 px. Families are those with a training recipe
(:data:`facexpr.training.RECIPES`).
"""

from __future__ import annotations

import platform
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from facexpr.data.pairing import PreparedDataset
from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.synthetic import generate_dataset
from facexpr.models import FaceModel
from facexpr.models.base import WEIGHTS_FILE
from facexpr.training import RECIPES, fit_family

Progress = Callable[[int, int, str], None]


def milliseconds_per_face(model: FaceModel, batch: int, repeats: int) -> float:
    """Median wall time of ``model.predict`` per face for a batch of random crops."""
    inputs = torch.rand(batch, model.max_inputs, model.channels, model.size, model.size)
    with torch.no_grad():
        model.predict(inputs)  # warm-up
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            model.predict(inputs)
            times.append(time.perf_counter() - began)
    times.sort()
    return 1000.0 * times[len(times) // 2] / batch


def benchmark_family(family: str, prepared: PreparedDataset, repeats: int = 5) -> dict[str, Any]:
    """Fit one family on ``prepared``'s training split and measure it."""
    began = time.perf_counter()
    model = fit_family(family, prepared, "train")
    fit_seconds = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as folder:
        model.save(folder)
        weights = Path(folder) / WEIGHTS_FILE
        file_bytes = weights.stat().st_size if weights.is_file() else 0
    return {
        "family": family,
        "size": model.size,
        "fit_seconds": round(fit_seconds, 4),
        "ms_per_face_batch1": round(milliseconds_per_face(model, 1, repeats), 4),
        "ms_per_face_batch64": round(milliseconds_per_face(model, 64, repeats), 4),
        "parameters": int(sum(t.numel() for t in model.tensors().values())),
        "file_bytes": file_bytes,
    }


def run_benchmark(
    sizes: tuple[int, ...] = (64, 128),
    subjects: int = 24,
    families: tuple[str, ...] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Benchmark every fittable family at every size on freshly generated synthetic faces."""
    chosen = [f for f in (families or sorted(RECIPES)) if f in RECIPES]
    results = []
    total = len(chosen) * len(sizes)
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "raw"
        generate_dataset(raw, n_subjects=subjects, expressions=("neutral", "happy", "sad", "surprise"), size=192, seed=0)
        for size in sizes:
            prepared_dir = Path(folder) / f"prepared{size}"
            prepare_dataset(raw, prepared_dir, PrepareOptions(size=size))
            prepared = PreparedDataset(prepared_dir, cache_size=None)
            for family in chosen:
                results.append(benchmark_family(family, prepared))
                if progress:
                    progress(len(results), total, f"{family} {size}px")
    return {
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "torch_threads": torch.get_num_threads()},
        "data": f"synthetic: {subjects} subjects x 4 expressions",
        "results": results,
    }
