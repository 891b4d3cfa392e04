"""Benchmark of the Neutral Face Generator's networks on the CPU: training speed, inference speed, size.

For each encoder (vgg, resnet, bigconv) at 64 and 128 px with the ``cpu``
preset's widths, it

* trains stage 1 for ``--epochs`` short epochs with :func:`facexpr.training.train_vae`
  (augmentation on, progress bar and logs off) on synthetic faces the project
  renders, and times every epoch's training loop (optimizer steps, data
  loading and augmentation) and validation loop separately;
* times ``VAEModel.predict`` and ``NeutralizerModel.predict`` (N = 3 photos per
  face, blending mask on) on random crops at batch 1 and batch 64: the median
  of ``--repeats`` runs after one warm-up, per output face;
* counts the parameters of both networks;

and times the ``paper`` preset (published widths) at 128 px for each encoder
(batch 1 and batch 8 only: a batch of 64 takes minutes on a CPU).

Run from the repository root (takes a few minutes on 2 cores)::

    .venv/bin/python benchmarks/vae.py --out benchmarks/results/vae.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import lightning as L
import torch
from common import machine_info, write_report
from lightning.pytorch.callbacks import Callback

from facexpr.data.pairing import PreparedDataset
from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.synthetic import generate_dataset
from facexpr.evaluation.benchmark import milliseconds_per_face
from facexpr.models.base import FaceModel
from facexpr.models.neutralizer import NeutralizerConfig, NeutralizerModel
from facexpr.models.vae import VAEConfig, VAEModel
from facexpr.training import BetaSchedule, TrainOptions, train_vae

ARCHS = ("vgg", "resnet", "bigconv")
SIZES = (64, 128)
EXPRESSIONS = ("neutral", "happy", "sad", "surprise")
NEUTRALIZER_INPUTS = 3
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "vae.json"


class EpochTimer(Callback):
    """Wall seconds of each epoch's training loop (validation excluded), of its validation loop, and its faces."""

    def __init__(self) -> None:
        self.train: list[float] = []
        self.validation: list[float] = []
        self.faces: list[int] = []
        self._epoch_start = 0.0
        self._val_start = 0.0
        self._val_seconds = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Start the epoch's clock."""
        self._epoch_start = time.perf_counter()
        self._val_seconds = 0.0
        self.faces.append(0)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        """Count the batch's faces (an epoch may draw more faces than the split holds)."""
        self.faces[-1] += len(batch)

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Start the validation clock."""
        self._val_start = time.perf_counter()

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Add the validation loop's seconds."""
        self._val_seconds += time.perf_counter() - self._val_start

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Record the epoch: its seconds minus validation, and validation (before checkpoints are written)."""
        self.train.append(time.perf_counter() - self._epoch_start - self._val_seconds)
        self.validation.append(self._val_seconds)


def parameters(model: VAEModel | NeutralizerModel) -> int:
    """Trainable and frozen parameters of the model's network (batch-norm statistics left out)."""
    return int(sum(p.numel() for p in model.network.parameters()))


def inference(model: FaceModel, batches: tuple[int, ...], repeats: int) -> dict[str, float]:
    """``ms_per_face_batch<B>`` for each batch size: median wall milliseconds of ``predict`` per output face."""
    return {f"ms_per_face_batch{b}": round(milliseconds_per_face(model, b, repeats), 3) for b in batches}


def prepared_sets(folder: Path, subjects: int, takes: int) -> dict[int, PreparedDataset]:
    """Synthetic faces rendered once, prepared at every benchmark size (default 70/15/15 subject split), cached."""
    raw = folder / "raw"
    generate_dataset(raw, n_subjects=subjects, expressions=EXPRESSIONS, size=192, seed=0, takes=takes)
    sets = {}
    for size in SIZES:
        prepare_dataset(raw, folder / f"prepared{size}", PrepareOptions(size=size))
        sets[size] = PreparedDataset(folder / f"prepared{size}", cache_size=None)
    return sets


def train_one(prepared: PreparedDataset, config: VAEConfig, epochs: int, batch_size: int) -> tuple[VAEModel, dict[str, Any]]:
    """Train stage 1 quietly for ``epochs`` epochs in a temporary folder; return the model and the timings."""
    timer = EpochTimer()
    options = TrainOptions(epochs=epochs, batch_size=batch_size, progress=False, logs=False)
    with tempfile.TemporaryDirectory() as folder:
        result = train_vae(prepared, Path(folder) / "model", config, BetaSchedule("incremental"), options,
                           callbacks=(timer,))
    assert result.model is not None and result.summary is not None
    faces = timer.faces[-1]
    last = timer.train[-1]
    return result.model, {
        "train_faces_per_epoch": faces,
        "train_split_faces": result.summary["train_items"],
        "val_faces_per_epoch": result.summary["val_items"],
        "batch_size": batch_size,
        "train_seconds_per_epoch": round(last, 3),
        "train_ms_per_face": round(1000 * last / faces, 2),
        "validation_seconds_per_epoch": round(timer.validation[-1], 3),
        "train_seconds_each_epoch": [round(s, 3) for s in timer.train],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """All measurements as one JSON-ready dict (see the module docstring and README, "Benchmarks")."""
    began = time.perf_counter()
    machine = machine_info()
    results, paper = [], []
    with tempfile.TemporaryDirectory() as folder:
        sets = prepared_sets(Path(folder), args.subjects, args.takes)
        for size in SIZES:
            for arch in ARCHS:
                config = VAEConfig.from_preset("cpu", arch=arch, size=size)
                vae, training = train_one(sets[size], config, args.epochs, args.batch_size)
                neutralizer = NeutralizerModel(
                    NeutralizerConfig(vae=vae.vae_config, mode="scratch", max_inputs=NEUTRALIZER_INPUTS))
                entry = {
                    "arch": arch, "size": size, "preset": "cpu", "width": config.width,
                    "vae_parameters": parameters(vae),
                    "neutralizer_parameters": parameters(neutralizer),
                    **training,
                    **{f"vae_{k}": v for k, v in inference(vae, (1, 64), args.repeats).items()},
                    **{f"neutralizer_{k}": v for k, v in inference(neutralizer, (1, 64), args.repeats).items()},
                }
                results.append(entry)
                print(json.dumps(entry), file=sys.stderr, flush=True)
    if args.paper:
        for arch in ARCHS:
            vae = VAEModel(VAEConfig.from_preset("paper", arch=arch))
            entry = {"arch": arch, "size": vae.size, "preset": "paper", "width": vae.vae_config.width,
                     "vae_parameters": parameters(vae),
                     **{f"vae_{k}": v for k, v in inference(vae, (1, 8), args.paper_repeats).items()}}
            paper.append(entry)
            print(json.dumps(entry), file=sys.stderr, flush=True)
    return {
        "benchmark": "vae",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "load_average_after": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "data": {
            "kind": "synthetic (facexpr.data.synthetic), rendered at 192 px and prepared at each size",
            "subjects": args.subjects, "expressions": list(EXPRESSIONS), "takes": args.takes,
            "split": "subject-independent 70/15/15; stage 1 trains on the train split's neutral crops",
        },
        "measured": {
            "training": (f"facexpr.training.train_vae for {args.epochs} epochs (incremental beta, augmentation on, "
                         "progress and logs off, batch size as given); train_seconds_per_epoch is the wall time of "
                         "the last epoch's training loop (optimizer steps, data loading, augmentation; validation "
                         "and checkpoint writing excluded) over train_faces_per_epoch faces (counted batch by "
                         "batch; train_split_faces distinct crops); train_ms_per_face scales it to one face"),
            "inference": ("median wall time of FaceModel.predict over random crops after one warm-up, divided by "
                          f"the batch size; the neutralizer gets N={NEUTRALIZER_INPUTS} photos per output face "
                          "(blending mask on); no gradients"),
            "parameters": "sum of the network's parameters (frozen ones included, batch-norm statistics not)",
        },
        "results": results,
        "paper_128": paper,
        "seconds": round(time.perf_counter() - began, 1),
    }


def main(argv: list[str] | None = None) -> None:
    """Parse the options, run the benchmark, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output (default: benchmarks/results/vae.json)")
    parser.add_argument("--subjects", type=int, default=12, help="synthetic subjects (default 12)")
    parser.add_argument("--takes", type=int, default=4, help="takes per subject and expression (default 4)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs per encoder and size (default 2)")
    parser.add_argument("--batch-size", type=int, default=16, help="training batch size (default 16, as facexpr train)")
    parser.add_argument("--repeats", type=int, default=5, help="timed inference runs per measurement (default 5)")
    parser.add_argument("--paper-repeats", type=int, default=3, help="timed runs for the paper preset (default 3)")
    parser.add_argument("--no-paper", dest="paper", action="store_false", help="skip the paper preset")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    report = run(args)
    write_report(args.out, report)


if __name__ == "__main__":
    main()
