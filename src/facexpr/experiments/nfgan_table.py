"""Table ``nfgan``: which of NFGAN's losses matter, NFGAN as published, and NFGAN on the geometric model's face.

"Normalized Face Image Generation with Perceptron Generative Adversarial
Networks" trains its encoder-decoder with five losses (Algorithm 1: L_feat,
L_GAN, L_id, L_pixel, L_sym). Each row of this ablation trains one
configuration on the training split of every given prepared folder into
``OUT/<row>``, at the table's crop size:

* ``full``: the cpu preset (our default) with every loss; ``no-identity``,
  ``no-feat``, ``no-adversarial``: one loss weighed 0; ``pixel-only``: an
  autoencoder with L_pixel alone; ``published``: the paper preset;
* ``geometric``: the geometric model alone, fitted (closed form) on the same
  split; ``on-warp`` (ours): the NFGAN losses on a refiner of that model's
  neutralized face. Choosing ``on-warp`` brings ``geometric`` along, and it is
  fitted first, since ``on-warp`` reads ``OUT/geometric``.

Each row is measured with :func:`facexpr.evaluation.evaluate.evaluate` on the
held-out people of ``eval_split`` of each folder separately (every expressive
photo -> the person's real neutral photo, scored by the pixel, identity,
landmark and expression judges), beside the ``identity`` baseline (the input
photo itself) and the ``mean-neutral`` one. The per-item identity distances are
kept, since L_id is meant to move their tail, not only their mean. A finished
row is read back; an interrupted one resumes; each row's measurements are kept
in ``OUT/<row>/nfgan_table.json`` so a rerun only measures what is new. Written
as ``OUT/tablenfgan.md`` and ``.json``, with ``OUT/identity_distances.png``,
after every row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facexpr.evaluation.evaluate import evaluate
from facexpr.evaluation.scoring import Judges
from facexpr.experiments.runs import (
    TableSettings,
    cell,
    claim_run,
    number,
    read_summary,
)
from facexpr.io import BadInputError, write_image_atomic, write_text_atomic
from facexpr.judges.identity import SAME_PERSON_THRESHOLD
from facexpr.metrics import json_safe
from facexpr.models.base import CONFIG_FILE, read_model_config
from facexpr.models.geometric import GeometricOptions
from facexpr.models.nfgan import NFGANConfig
from facexpr.training.data import open_prepared
from facexpr.training.geometric import GeometricRun, train_geometric
from facexpr.training.nfgan import train_nfgan

TABLE_NAME = "nfgan"
MEASURES_FILE = "nfgan_table.json"
PLOT_FILE = "identity_distances.png"


@dataclass(frozen=True)
class Row:
    """One configuration of the table: its family (``nfgan`` or ``geometric``), the NFGAN config fields it sets
    (over the cpu preset) and, for a row built on another row's model, that row."""

    name: str
    family: str
    fields: dict[str, Any] = field(default_factory=dict)
    needs: str | None = None
    description: str = ""


ROWS: tuple[Row, ...] = (
    Row("full", "nfgan", description="NFGAN, cpu preset (default): every loss"),
    Row("no-identity", "nfgan", {"lambda_id": 0.0}, description="cpu preset without L_id (lambda_id 0)"),
    Row("no-feat", "nfgan", {"feat": 0.0}, description="cpu preset without L_feat (feat 0)"),
    Row("no-adversarial", "nfgan", {"eta": 0.0}, description="cpu preset without L_GAN (eta 0)"),
    Row("pixel-only", "nfgan", {"feat": 0.0, "eta": 0.0, "lambda_id": 0.0, "lambda_sym": 0.0},
        description="autoencoder: L_pixel only"),
    Row("published", "nfgan", {"preset": "paper"}, description="as published (grey, paper widths and weights)"),
    Row("geometric", "geometric", description="the geometric model alone (warp + appearance)"),
    # lambda_pixel 30 chosen on FRL London's validation people (64 px, 25 epochs): PSNR 26.44 dB, landmark error
    # 0.0210, p(neutral) 0.74 against 26.35, 0.0212, 0.71 at the preset's 10 (the geometric model: 26.18, 0.0215, 0.66)
    Row("on-warp", "nfgan", {"on_warp": True, "lambda_pixel": 30.0}, needs="geometric",
        description="ours: NFGAN losses (L_pixel 30) on a refiner of the geometric model's face"),
)

#: The metrics kept from ``metrics.json`` for each row and data folder.
MEASURED = ("psnr", "ssim", "sharpness", "id_distance", "id_rank1", "id_same_rate", "landmark_error", "p_neutral")

#: (name in the table, name in ``metrics.json``) of the reference rows.
BASELINES = (("input", "identity"), ("mean-neutral", "mean-neutral"))

#: Markdown columns after the row's name: (header, key in the row's measures, decimals).
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("PSNR", "psnr", 2), ("SSIM", "ssim", 3), ("sharpness", "sharpness", 2), ("identity distance", "id_distance", 3),
    ("identity distance p90", "id_p90", 3), ("rank-1", "id_rank1", 2), ("same-person rate", "id_same_rate", 2),
    ("landmark error", "landmark_error", 3), ("p(neutral)", "p_neutral", 2), ("seconds", "seconds", 1),
)


@dataclass(frozen=True)
class NFGANTableSettings(TableSettings):
    """What every row shares (see :class:`~facexpr.experiments.runs.TableSettings`), with 25 epochs by default
    and ``size``: the crop side of every row (NFGAN: a multiple of 16 from 32)."""

    epochs: int = 25
    size: int = 64

    def chosen(self) -> list[Row]:
        """The rows to run, in table order; a row built on another row's model brings that row along.

        Raises:
            BadInputError: an unknown row name.
        """
        return self.choose(ROWS, lambda row: row.name, lambda row: row.needs)

    def config(self, row: Row) -> NFGANConfig:
        """The NFGAN config of ``row``: its preset (cpu unless it says) at the table's size with its fields; a row
        built on another row's model refines the geometric model in that row's folder.

        Raises:
            BadInputError: a size the networks cannot be built at.
        """
        fields = {"preset": "cpu", **row.fields, "size": self.size}
        if row.needs:
            fields["warp_model"] = str(self.out / row.needs)
        try:
            return NFGANConfig.from_preset(**fields)
        except ValueError as error:
            raise BadInputError(self.out, str(error)) from None


def data_labels(data: Sequence[Path]) -> list[str]:
    """A distinct short name per data folder (its folder name, numbered when two share one): the key of its
    measures and of its evaluation folder, and its section title."""
    names = [Path(d).name for d in data]
    return [name if names.count(name) == 1 else f"{name}-{index + 1}" for index, name in enumerate(names)]


def _train(row: Row, folder: Path, settings: NFGANTableSettings) -> None:
    """Train ``row`` into ``folder`` (an interrupted NFGAN run resumes; the geometric fit takes seconds)."""
    data = [open_prepared(path) for path in settings.data]
    if row.family == "geometric":
        train_geometric(data, folder, settings.split, GeometricOptions(), GeometricRun(size=settings.size))
    else:
        train_nfgan(data, folder, split=settings.split, config=settings.config(row), options=settings.options())


def training_summary(row: Row, folder: Path) -> dict[str, Any] | None:
    """The finished row's training summary (with ``seconds``), None while it is unfinished; the geometric fit
    writes no ``summary.json``, its summary is the ``training`` entry of its ``config.json``."""
    if row.family != "geometric":
        return read_summary(folder)
    return read_model_config(folder).get("training", {}) if (folder / CONFIG_FILE).is_file() else None


def distance_spread(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The per-item identity distances of an evaluation run and their median, 90th percentile and maximum
    (over the finite ones): the tail that a mean hides."""
    distances = [float(row["id_distance"]) for row in rows]
    finite = [d for d in distances if math.isfinite(d)]
    if not finite:
        return {"id_distances": distances, "id_median": math.nan, "id_p90": math.nan, "id_max": math.nan}
    return {"id_distances": distances, "id_median": float(np.median(finite)),
            "id_p90": float(np.percentile(finite, 90)), "id_max": float(max(finite))}


def measure(folder: Path, data: Path, label: str, eval_split: str, judges: Judges) -> dict[str, Any]:
    """Evaluate the model in ``folder`` on ``eval_split`` of ``data`` (written to ``folder/eval-<split>-<label>``)
    and return the table's measures, with those of the ``input`` and ``mean-neutral`` baselines on the same
    items under ``baselines``."""
    evaluation = evaluate(str(folder), data, eval_split, out=folder / f"eval-{eval_split}-{label}", judges=judges)
    runs = {run.name: run for run in evaluation.runs}
    baselines = evaluation.document["baselines"]
    return {**_scores(evaluation.document["metrics"], evaluation.runs[0].rows),
            "baselines": {shown: _scores(baselines[name]["metrics"], runs[name].rows) for shown, name in BASELINES}}


def _scores(metrics: dict[str, Any], rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The :data:`MEASURED` metrics of one run of ``metrics.json`` (as floats) and its per-item identity
    distances with their spread."""
    return {**{key: float(metrics[key]) for key in MEASURED}, **distance_spread(rows)}




def render(rows: Sequence[tuple[Row, dict[str, Any] | None]], settings: NFGANTableSettings) -> str:
    """The table as Markdown: heading, settings and what the columns mean, then per data folder the reference
    rows and one line per row, and the identity distances of ``full`` beside ``no-identity``."""
    lines = [
        "# Table nfgan: NFGAN's losses one by one, NFGAN as published, and NFGAN on the geometric model's face",
        "",
        (f"Trained on split `{settings.split}` of {', '.join(f'`{d}`' for d in settings.data)} together at "
         f"{settings.size} px (NFGAN rows: at most {settings.epochs} epochs of at least {settings.epoch_items} "
         f"items, batch {settings.batch_size}, seed {settings.seed}; the geometric row is a closed-form fit on the "
         f"same split); measured on split `{settings.eval_split}` of each folder (people not in training): every "
         "expressive photo of a held-out person, asked for that person's neutral face."),
        "",
        ("PSNR and SSIM: against the person's real neutral photo. Sharpness: Laplacian variance of the output over "
         "that of the real neutral photo (below 1: blurrier). Identity distance: Euclidean distance between the "
         "dlib face descriptors of the output and of the person's real neutral photo, mean over the items (p90: "
         "its 90th percentile). Rank-1: how often the person's own real neutral photo is the nearest to the "
         "output among one per held-out person. Same-person rate: the share of outputs within dlib's same-person "
         f"threshold ({SAME_PERSON_THRESHOLD}) of the real neutral photo. Landmark error: mean distance of the "
         "51 inner dlib landmarks of the output from those of the real neutral photo, in inter-ocular distances. "
         "p(neutral): the FER judge's mean probability of neutral. Seconds: training (wall clock; on-warp's "
         "without the geometric fit it starts from). Reference rows: `input` is the expressive photo itself (the "
         "identity function), `mean-neutral` the average neutral face of the training people."),
    ]
    measured = [(row, m) for row, m in rows if m is not None]
    for label, path in zip(data_labels(settings.data), settings.data):
        lines += ["", f"## {label} (`{path}`)", "",
                  "| row | " + " | ".join(header for header, _, _ in COLUMNS) + " | what |",
                  "|---|" + "---:|" * len(COLUMNS) + "---|"]
        first = next((m["folders"][label] for _, m in measured if label in m["folders"]), None)
        if first is not None:
            for shown, what in (("input", "the expressive photo itself"),
                                ("mean-neutral", "the average neutral face of the training people")):
                cells = [cell(first["baselines"][shown].get(key), digits) for _, key, digits in COLUMNS]
                lines.append(f"| {shown} | " + " | ".join(cells) + f" | {what} |")
        for row, measures in rows:
            values = None if measures is None else measures["folders"].get(label)
            cells = ["(not run yet)" if values is None else
                     cell(measures["seconds"] if key == "seconds" else values.get(key), digits)
                     for _, key, digits in COLUMNS]
            lines.append(f"| {row.name} | " + " | ".join(cells) + f" | {row.description} |")
        pair = {row.name: m["folders"][label] for row, m in measured
                if row.name in ("full", "no-identity") and label in m["folders"]}
        if len(pair) == 2:
            lines += ["", "Identity distances with and without L_id: " + "; ".join(
                f"`{name}` median {cell(pair[name]['id_median'], 3)}, p90 {cell(pair[name]['id_p90'], 3)}, "
                f"same-person rate {cell(pair[name]['id_same_rate'], 2)}" for name in ("full", "no-identity")) + "."]
    return "\n".join(lines) + "\n"


def distance_plot(groups: Sequence[tuple[str, Sequence[float]]], title: str) -> np.ndarray:
    """Box plots of per-item identity distances, one per (name, distances), with a dashed line at dlib's
    same-person threshold, as an RGB image."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 1.2 + 0.45 * len(groups)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.boxplot([list(values) for _, values in groups], orientation="horizontal",
                 tick_labels=[name for name, _ in groups])
    axes.axvline(SAME_PERSON_THRESHOLD, linestyle="--", color="grey",
                 label=f"dlib same-person threshold {SAME_PERSON_THRESHOLD}")
    axes.invert_yaxis()  # the table's order, top to bottom
    axes.set_xlabel("dlib descriptor distance to the real neutral photo")
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8, loc="best")
    figure.tight_layout()
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[:, :, :3].copy()


def _plot(path: Path, rows: Sequence[tuple[Row, dict[str, Any] | None]], label: str) -> None:
    """Write the identity-distance plot of the first data folder (``label``) for every measured row."""
    measured = [(row.name, m["folders"][label]) for row, m in rows if m is not None and label in m["folders"]]
    if not measured:
        return
    groups = [("input", measured[0][1]["baselines"]["input"]["id_distances"]), *(
        (name, values["id_distances"]) for name, values in measured)]
    finite = [(name, [d for d in map(number, values) if math.isfinite(d)]) for name, values in groups]
    finite = [(name, values) for name, values in finite if values]
    if finite:
        write_image_atomic(path, distance_plot(finite, f"identity distance per item, {label}"))


def run_nfgan_table(settings: NFGANTableSettings, report: Callable[[str], None] = lambda line: None,
                    judges: Judges | None = None) -> tuple[Path, Path]:
    """Train (or read back) and measure every chosen row; returns the Markdown and JSON tables' paths.

    Raises:
        BadInputError: no data, a folder that is not prepared data or lacks the splits, a row folder made with
            other settings, an unknown row, a size NFGAN cannot be built at.
    """
    if not settings.data:
        raise BadInputError(settings.out, "table nfgan needs one or more prepared folders (--data)")
    rows = settings.chosen()
    settings.options()
    for row in rows:
        if row.family == "nfgan":
            settings.config(row)
    settings.eval_sets()
    labels = list(zip(data_labels(settings.data), settings.data))
    judges = judges or Judges.default()
    done: list[tuple[Row, dict[str, Any] | None]] = [(row, None) for row in rows]
    markdown, raw = settings.out / f"table{TABLE_NAME}.md", settings.out / f"table{TABLE_NAME}.json"
    spec = settings.run_spec(size=settings.size)
    for index, row in enumerate(rows):
        folder = settings.out / row.name
        claim_run(folder, {**spec, "row": row.name, "family": row.family, "fields": row.fields})
        summary = training_summary(row, folder)
        if summary is None:
            report(f"{row.name}: training")
            _train(row, folder, settings)
            summary = training_summary(row, folder) or {}
        measures_path = folder / MEASURES_FILE
        stored = json.loads(measures_path.read_text()) if measures_path.is_file() else {}
        per_folder = stored.setdefault(settings.eval_split, {})
        for label, path in labels:
            if label not in per_folder:
                report(f"{row.name}: measuring {label} on split {settings.eval_split}")
                per_folder[label] = measure(folder, path, label, settings.eval_split, judges)
                write_text_atomic(measures_path, json.dumps(json_safe(stored), indent=2, allow_nan=False))
        seconds = number(summary.get("seconds"))
        done[index] = (row, {"seconds": seconds, "folders": {label: per_folder[label] for label, _ in labels}})
        write_text_atomic(markdown, render(done, settings))
        write_text_atomic(raw, json.dumps(json_safe({
            "table": TABLE_NAME, "settings": {**spec, "eval_split": settings.eval_split},
            "rows": {r.name: m for r, m in done}}), indent=2, allow_nan=False))
        _plot(settings.out / PLOT_FILE, done, labels[0][0])
        first = per_folder[labels[0][0]]
        report(f"{row.name}: PSNR {cell(first['psnr'], 2)}, identity distance {cell(first['id_distance'], 3)} "
               f"(p90 {cell(first['id_p90'], 3)}), rank-1 {cell(first['id_rank1'], 2)}, "
               f"seconds {cell(seconds, 1)}")
    return markdown, raw
