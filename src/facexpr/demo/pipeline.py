"""The demo pipeline, the main job on the embedded default data (synthetic faces).

1. generate synthetic people with seven expressions and align them with the
   same face pipeline as photos (``prepare``, subject-independent splits);
2. stage 1: a beta-VAE of the training subjects' neutral faces;
3. stage 2: the multi-image neutralizer, the stage-1 decoder attached and
   frozen, with the latent regularizer (``frozen-reg``);
4. neutralize every held-out (test) subject from its expressive faces and
   measure it with ``facexpr evaluate`` beside the identity and mean-face
   baselines;
5. the geometric model and masked regression fitted on the same people and
   compared with the VAE neutralizer on the held-out smiles
   (:mod:`facexpr.demo.geometry`), and the same on the Face Research Lab London
   photos when their folder is given (``--real``, found in ``../shared/data``);
6. ``report.html`` / ``neutralized.png``: inputs, neutralized face and true
   neutral face per held-out subject, the metric tables, the comparison grids
   and the contact sheet.

Everything lands in one folder; rerunning the demo reuses what is done
(prepared crops, finished models) and resumes interrupted trainings.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from facexpr.data.pairing import PreparedDataset
from facexpr.data.prepare import PrepareOptions, ProgressCallback, prepare_dataset
from facexpr.data.records import FaceRecord
from facexpr.data.synthetic import generate_dataset
from facexpr.demo.geometry import Comparison, compare_on
from facexpr.io import load_image, write_image_atomic, write_text_atomic
from facexpr.models import FaceModel, load_model
from facexpr.viz import contact_sheet, draw_landmarks

DEMO_EXPRESSIONS = ("neutral", "happy", "sad", "surprise", "angry", "disgust", "fear")
#: Photos of a held-out person the demo's neutralizer sees together.
DEMO_SHOTS = 3
#: Metrics shown in the demo's table (all of them are in evaluation/metrics.json).
SHOWN_METRICS = ("psnr", "ssim", "mse", "sharpness", "id_rank1", "landmark_error")


@dataclass
class DemoSettings:
    """Size of the demo run: people, crop size, model size and training budget."""

    subjects: int = 40
    size: int = 128
    model_size: int = 64
    seed: int = 0
    vae_epochs: int = 12
    neutralizer_epochs: int = 12
    epoch_items: int = 256
    real: Path | None = None


@dataclass
class DemoReport:
    """Where the demo wrote its results, how many faces went through and what the evaluation measured."""

    out_dir: Path
    subjects: int
    aligned: int
    contact_sheet: Path
    report: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)


def _sheet_rows(prepared: Path, records: list[FaceRecord]) -> tuple[list[list[np.ndarray | None]], list[str]]:
    """One row per subject: its aligned crop (with landmarks) for every demo expression."""
    subjects = sorted({r.subject for r in records})
    by_key = {(r.subject, r.expression): r for r in records}
    rows, labels = [], []
    for subject in subjects:
        row: list[np.ndarray | None] = []
        for expression in DEMO_EXPRESSIONS:
            record = by_key.get((subject, expression))
            if record is None:
                row.append(None)
                continue
            crop = load_image(prepared / record.path)
            row.append(draw_landmarks(crop, np.asarray(record.meta["landmarks"]), radius=0.8))
        rows.append(row)
        split = next(r.split for r in records if r.subject == subject)
        labels.append(f"{subject} ({split})")
    return rows, labels


def _trained(folder: Path, train: Callable[[], Any]) -> FaceModel:
    """The model in ``folder`` if a finished training left it there, else ``train()`` (which resumes)."""
    from facexpr.training import SUMMARY_FILE

    if (folder / SUMMARY_FILE).is_file():
        return load_model(folder)
    result = train()
    assert result.model is not None  # the demo trains in one process
    return result.model


def train_demo_models(prepared: PreparedDataset, models_dir: Path, settings: DemoSettings) -> tuple[Path, Path]:
    """Stage 1 (ResNet beta-VAE, fixed beta) then stage 2 (frozen-reg neutralizer, mask head) on the training split.

    The demo keeps the mask-only head: on these synthetic people (3 photos each, 12 short epochs) the flow
    head's displacements stay under a pixel, and its resampling blur cost SSIM (0.951 against the input's
    0.952), where the mask head reaches 0.9527.
    """
    from facexpr.models.neutralizer import NeutralizerConfig
    from facexpr.models.vae import VAEConfig
    from facexpr.training import (
        BetaSchedule,
        TrainOptions,
        train_neutralizer,
        train_vae,
    )

    vae_dir, neutralizer_dir = models_dir / "vae", models_dir / "neutralizer"
    config = VAEConfig.from_preset("cpu", arch="resnet", size=settings.model_size)

    def options(epochs: int) -> TrainOptions:
        """Quiet, short runs with enough steps per epoch on a few dozen faces."""
        return TrainOptions(epochs=epochs, seed=settings.seed, progress=False, min_epoch_items=settings.epoch_items,
                            patience=max(3, epochs // 3), warmup=epochs)

    _trained(vae_dir, lambda: train_vae(prepared, vae_dir, config, BetaSchedule("fixed"), options(settings.vae_epochs)))
    neutralizer = NeutralizerConfig(vae=config, mode="frozen-reg", head="mask", max_inputs=DEMO_SHOTS)
    _trained(neutralizer_dir, lambda: train_neutralizer(
        prepared, neutralizer_dir, neutralizer, vae_dir, options(settings.neutralizer_epochs), shots=DEMO_SHOTS))
    return vae_dir, neutralizer_dir


def _neutralized_sheet(prepared_dir: Path, evaluation_dir: Path, items: list[Any]) -> np.ndarray:
    """One row per held-out subject: its input photos, the neutralized face, the true neutral face."""
    rows, labels = [], []
    for item in items:
        inputs = [load_image(prepared_dir / r.path) for r in item.inputs]
        output = load_image(evaluation_dir / "pairs" / "output" / f"{item.name}.png")
        target = load_image(evaluation_dir / "pairs" / "target" / f"{item.name}.png")
        rows.append([*inputs, *([None] * (DEMO_SHOTS - len(inputs))), output, target])
        labels.append(item.target.subject)
    columns = [*(f"input {i + 1}" for i in range(DEMO_SHOTS)), "neutralized", "true neutral"]
    return contact_sheet(rows, labels, columns, cell_size=96)


def _metric_table(runs: dict[str, dict[str, Any]]) -> str:
    """An HTML table: one row per model, one column per shown metric."""
    e = html.escape
    head = "".join(f"<th>{e(m)}</th>" for m in SHOWN_METRICS)
    body = "".join(
        f"<tr><td>{e(name)}</td>" + "".join(f"<td>{_cell(metrics.get(m))}</td>" for m in SHOWN_METRICS) + "</tr>"
        for name, metrics in runs.items()
    )
    return f"<table><tr><th>model</th>{head}</tr>{body}</table>"


def _comparison_html(report: DemoReport) -> str:
    """The geometric comparisons: their tables and grids."""
    e = html.escape
    parts = []
    for comparison in report.comparisons:
        document = comparison.document
        runs = {m["model"]: m["metrics"] for m in document["models"]}
        grid = comparison.grid.relative_to(report.out_dir).as_posix()
        parts.append(
            f"<h3>{e(comparison.title)}: {document['n']} held-out smiles ({e(document['split'])} split, 128 px)</h3>"
            f"{_metric_table(runs)}<img src=\"{e(grid)}\" alt=\"comparison grid\">")
    return "".join(parts)


def _html_report(report: DemoReport, document: dict[str, Any], training: dict[str, dict[str, Any]]) -> str:
    """The demo's one-page summary: what ran, the metric table against the baselines, the pictures."""
    e = html.escape
    runs = {document["model"]: document["metrics"]}
    runs.update({name: b["metrics"] for name, b in document["baselines"].items()})
    stages = "".join(
        f"<li>{e(stage)}: {s['epochs']} epochs, best validation MSE {s['best_val_mse']} "
        f"(epoch {s['best_epoch']}), {s['seconds']} s, stopped by {e(str(s['stop_reason']))}</li>"
        for stage, s in training.items()
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>facexpr demo</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}</style></head>
<body><h1>facexpr demo: neutral faces of held-out synthetic people</h1>
<p>{report.subjects} synthetic people, {report.aligned} aligned crops; the models never saw the people below.</p>
<h2>Training</h2><ul>{stages}</ul>
<h2>Geometry-guided neutralization</h2>
<p>The geometric model finds each face's 68 landmarks, predicts where they sit in a neutral face, warps the photo
there (thin-plate spline, border pinned) and corrects inside the face what a warp cannot do. Beside it: masked
regression (happy -&gt; neutral) and the VAE neutralizer below (64 px, shown enlarged), all trained on the same
people, and the baselines. Green: landmarks found; red: where the model moves them.</p>
{_comparison_html(report)}
<h2>VAE neutralizer: held-out people, {document['n']} items ({e(document['split'])} split, 64 px)</h2>
{_metric_table(runs)}
<p>Full evaluation (every judge, best/median/worst items, distributions):
<a href="evaluation/report.html">evaluation/report.html</a></p>
<img src="neutralized.png" alt="inputs, neutralized face, true neutral face">
<h2>All synthetic people, aligned, with their landmarks</h2>
<img src="contact_sheet.png" alt="contact sheet">
<p>Real faces: Face Research Lab London Set (DeBruine &amp; Jones 2017, CC BY 4.0), when present.</p>
</body></html>
"""


def _cell(value: Any) -> str:
    """A metric value for the HTML table."""
    return f"{value:.4g}" if isinstance(value, float) else html.escape(str(value))


def run_demo(
    out_dir: str | Path,
    settings: DemoSettings | None = None,
    progress: ProgressCallback | None = None,
    train: bool = True,
) -> DemoReport:
    """Run the demo into ``out_dir`` (see the module docstring); ``train=False`` stops after the contact sheet."""
    from facexpr.evaluation import evaluate

    settings = settings or DemoSettings()
    out_dir = Path(out_dir)
    raw = out_dir / "synthetic"
    generate_dataset(raw, n_subjects=settings.subjects, expressions=DEMO_EXPRESSIONS,
                     size=int(settings.size * 1.5), seed=settings.seed)
    prepared_dir = out_dir / "prepared"
    result = prepare_dataset(raw, prepared_dir, PrepareOptions(size=settings.size, seed=settings.seed), progress=progress)
    rows, labels = _sheet_rows(prepared_dir, result.records)
    sheet_path = out_dir / "contact_sheet.png"
    write_image_atomic(sheet_path, contact_sheet(rows, labels, DEMO_EXPRESSIONS, cell_size=settings.size))
    report = DemoReport(out_dir, result.summary["subjects"], result.summary["aligned"], sheet_path)
    if not train:
        return report
    prepared = PreparedDataset(prepared_dir, cache_size=None)
    vae_dir, neutralizer_dir = train_demo_models(prepared, out_dir / "models", settings)
    evaluation = evaluate(str(neutralizer_dir), prepared_dir, "test", out_dir / "evaluation", progress=progress)
    write_image_atomic(out_dir / "neutralized.png", _neutralized_sheet(prepared_dir, evaluation.out_dir, evaluation.items))
    training = {stage: json.loads((folder / "summary.json").read_text())
                for stage, folder in (("stage 1 (beta-VAE)", vae_dir), ("stage 2 (neutralizer)", neutralizer_dir))}
    report.comparisons.append(compare_on("Synthetic people", prepared_dir, neutralizer_dir, out_dir / "geometry",
                                         progress=progress))
    if settings.real is not None:
        report.comparisons.append(_real_comparison(settings, out_dir / "real", progress))
    report.report = out_dir / "report.html"
    report.metrics = evaluation.document
    write_text_atomic(report.report, _html_report(report, evaluation.document, training))
    return report


def _real_comparison(settings: DemoSettings, out_dir: Path, progress: ProgressCallback | None) -> Comparison:
    """Prepare the real photos (``settings.real``), train the VAE stages on their train split, compare."""
    prepared_dir = out_dir / "prepared"
    prepare_dataset(settings.real, prepared_dir, PrepareOptions(size=settings.size, seed=settings.seed), progress=progress)
    _, neutralizer_dir = train_demo_models(PreparedDataset(prepared_dir, cache_size=None), out_dir / "models", settings)
    return compare_on("Face Research Lab London (real photos)", prepared_dir, neutralizer_dir, out_dir, progress=progress)
