"""Table ``seed001``: "Generating Facial Expressions" reproduced, its two failures measured, the fixes beside them.

The report built a two-step CNN (blurry; its refinement step "does not seem to
make much of a difference") and a conditional DCGAN that learnt the identity
function ("regardless of the one-hot vector, the output always looks like the
input"). Each row trains one configuration on the training split of every
given prepared folder into ``OUT/<row>`` and measures it on the held-out people
of ``eval_split``:

* asked for each expression on their neutral photos
  (:func:`facexpr.evaluation.conditional.conditional_run`): the FER judge's
  top-1 for the requested expression (happy, surprise, and over every target the
  judge knows), identity rank-1, sharpness, and the identity-function score;
* where the person has a real photo of the requested expression: PSNR and SSIM
  against it (neutral to each expression, each expression to neutral).

The two-step rows "without refinement" are the step-1 models that the refined
runs train first (``OUT/<row>/step1``), so they cost nothing more. A finished
row is read back; an interrupted one resumes; each row's measurements are kept
in ``OUT/<row>/seed001.json`` so a rerun only measures what is new. Written as
``OUT/tableseed001.md`` and ``.json`` after every row.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from facexpr import metrics
from facexpr.data.pairing import PreparedDataset
from facexpr.evaluation.conditional import conditional_run
from facexpr.evaluation.evaluate import run_model
from facexpr.evaluation.items import evaluation_items
from facexpr.evaluation.scoring import Judges
from facexpr.experiments.runs import TableSettings, claim_run, read_summary
from facexpr.io import BadInputError, to_uint8, write_text_atomic
from facexpr.metrics import json_safe
from facexpr.models import FaceModel, load_model
from facexpr.models.base import resize_to
from facexpr.models.cdcgan import CDCGANConfig
from facexpr.models.twostep import TwoStepConfig
from facexpr.training.cdcgan import train_cdcgan
from facexpr.training.data import open_prepared
from facexpr.training.twostep import STEP1_DIR, train_twostep

TABLE_NAME = "seed001"
MEASURES_FILE = "seed001.json"


@dataclass(frozen=True)
class Row:
    """One configuration of the table: its family, config fields and, for step 1 of a two-step run, the row
    whose ``step1`` folder it reads."""

    name: str
    family: str
    fields: dict[str, Any] = field(default_factory=dict)
    step1_of: str | None = None
    description: str = ""


ROWS: tuple[Row, ...] = (
    Row("twostep-mse", "twostep", {"loss": "mse"}, description="two-step CNN, MSE, with refinement"),
    Row("twostep-mse-step1", "twostep", step1_of="twostep-mse", description="two-step CNN, MSE, step 1 only"),
    Row("twostep-smoothl1", "twostep", {"loss": "smoothl1"}, description="two-step CNN, Smooth-L1, with refinement"),
    Row("twostep-smoothl1-step1", "twostep", step1_of="twostep-smoothl1",
        description="two-step CNN, Smooth-L1, step 1 only"),
    Row("cdcgan-report", "cdcgan", {"preset": "report"}, description="conditional DCGAN as published"),
    Row("cdcgan-report-k8", "cdcgan", {"preset": "report", "steps_per_batch": 8},
        description="as published, 8 steps per batch (the report's remedy)"),
    Row("cdcgan-fixed", "cdcgan", {"preset": "fixed"},
        description="ours (default): projection discriminator, mismatch fakes, residual output"),
)

#: Markdown columns after the row's name: (header, key in the row's measures, decimals).
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("FER top-1 happy", "top1_happy", 2), ("FER top-1 surprise", "top1_surprise", 2),
    ("FER top-1 all", "top1_all", 2), ("lip-corner lift moved, happy", "lift_happy", 3),
    ("mouth opening moved, surprise", "open_surprise", 3), ("identity rank-1", "id_rank1", 2), ("PSNR", "psnr", 2), ("SSIM", "ssim", 3),
    ("sharpness", "sharpness", 2), ("identity-function score", "between_targets", 4), ("seconds", "seconds", 0),
)


@dataclass(frozen=True)
class Seed001Settings(TableSettings):
    """What every row shares (see :class:`~facexpr.experiments.runs.TableSettings`)."""

    def chosen(self) -> list[Row]:
        """The rows to run, in table order; a step-1 row brings its refined row along.

        Raises:
            BadInputError: an unknown row name.
        """
        return self.choose(ROWS, lambda row: row.name, lambda row: row.step1_of)


def _train(row: Row, folder: Path, settings: Seed001Settings) -> dict[str, Any] | None:
    """Train ``row`` into ``folder`` (resuming an interrupted run) and return its training summary."""
    data = [open_prepared(path) for path in settings.data]
    if row.family == "twostep":
        return train_twostep(data, folder, split=settings.split, config=TwoStepConfig.from_preset(**row.fields),
                             options=settings.options()).summary
    config = CDCGANConfig.from_preset(**row.fields)
    options = settings.options()
    if config.steps_per_batch > 1:  # the same optimizer steps per epoch as the other rows: k steps on 1/k the batches
        options = replace(options, min_epoch_items=max(options.batch_size,
                                                       options.min_epoch_items // config.steps_per_batch))
    return train_cdcgan(data, folder, split=settings.split, config=config, options=options).summary


def pixel_scores(model: FaceModel, sets: Sequence[tuple[PreparedDataset, str]]) -> dict[str, float]:
    """PSNR and SSIM of ``model`` asked for each of its targets where a person has a real photo of it: neutral
    photos to each expression, expressive photos to neutral; means over every such item of ``sets``."""
    psnr, ssim = [], []
    for prepared, split in sets:
        records = prepared.select(split=None if split == "all" else split)
        for target in model.target_expressions:
            sources = None if target == "neutral" else ("neutral",)
            items = evaluation_items(records, target, sources)
            if not items:
                continue
            outputs, _ = run_model(model.for_target(target), prepared, items)
            crops = resize_to(torch.stack([prepared.load(i.target) for i in items]), model.size)
            targets = to_uint8(crops if crops.shape[1] == model.channels else crops.expand(-1, 3, -1, -1))
            psnr += list(np.atleast_1d(metrics.psnr(outputs, targets)))
            ssim += list(np.atleast_1d(metrics.ssim(outputs, targets)))
    finite = [p for p in psnr if math.isfinite(p)]
    return {"psnr": float(np.mean(finite)) if finite else math.nan, "ssim": float(np.mean(ssim)) if ssim else math.nan,
            "pixel_items": len(psnr)}


def measure(model: FaceModel, sets: Sequence[tuple[PreparedDataset, str]], judges: Judges) -> dict[str, Any]:
    """Every column of the table but ``seconds`` for one trained model (see the module docstring)."""
    run = conditional_run(model, sets, judges)
    summary = run.summary()
    top1 = {target: summary.get(target, {}).get("expression_top1", math.nan) for target in ("happy", "surprise")}
    happy, surprise = summary.get("happy", {}), summary.get("surprise", {})
    return {"top1_happy": top1["happy"], "top1_surprise": top1["surprise"],
            "lift_happy": happy.get("d_lip_corner_lift", math.nan),
            "real_lift_happy": happy.get("real_d_lip_corner_lift", math.nan),
            "open_surprise": surprise.get("d_mouth_open", math.nan),
            "real_open_surprise": surprise.get("real_d_mouth_open", math.nan),
            "top1_all": summary["all"]["expression_top1"], "id_rank1": summary["all"]["id_rank1"],
            "sharpness": summary["all"]["sharpness"], "between_targets": run.between_targets,
            "to_input": summary["all"]["to_input"], "conditional": run.document(), **pixel_scores(model, sets)}


def _seconds(summary: dict[str, Any] | None, step1: bool) -> float:
    """Training seconds of a row: step 1's alone for a step-1 row, both steps' for a refined two-step row."""
    if summary is None:
        return math.nan
    first = summary.get("step1", {}).get("summary", {})
    if step1:
        return float(first.get("seconds", summary.get("seconds", math.nan)))
    return float(summary.get("seconds", math.nan)) + float(first.get("seconds", 0.0))


def render(rows: Sequence[tuple[Row, dict[str, Any] | None]], settings: Seed001Settings) -> str:
    """The table as Markdown: heading, settings, one line per row."""
    lines = [
        "# Table seed001: \"Generating Facial Expressions\" -- two-step CNN and conditional DCGAN, with the fixes",
        "",
        f"Trained on split `{settings.split}` of {', '.join(f'`{d}`' for d in settings.data)} (at most "
        f"{settings.epochs} epochs of at least {settings.epoch_items} items, batch {settings.batch_size}, seed "
        f"{settings.seed}; a row taking k steps per batch draws 1/k of the items per epoch, so every row makes "
        f"the same number of optimizer steps per epoch); measured on split `{settings.eval_split}` (people not in "
        "training).",
        "",
        "FER top-1: how often the FER judge reads the requested expression on the outputs for the held-out "
        "people's neutral photos (chance 1/7; 'all': every requested expression the judge knows). Identity "
        "rank-1 among one neutral photo per held-out person, sharpness over the input's, over every requested "
        "expression. PSNR/SSIM against the person's real photo of the requested expression. Identity-function "
        "score: mean absolute difference between the outputs for two different targets (0: the one-hot "
        "changes nothing). Seconds: training on 2 CPU cores. Lip-corner lift and mouth opening moved: how far "
        "the dlib landmarks of the output moved from the input's (inter-ocular units), a judge no model trains "
        "against; the row `real photos` gives the move from the same people's real neutral photos to their real "
        "photos of the expression.",
        "",
        "| row | " + " | ".join(header for header, _, _ in COLUMNS) + " | what |",
        "|---|" + "---:|" * len(COLUMNS) + "---|",
    ]
    real = next((m for _, m in rows if m is not None), None)
    if real is not None:
        cells = [_cell(real.get(f"real_{key}"), digits) if key in ("lift_happy", "open_surprise") else ""
                 for _, key, digits in COLUMNS]
        lines.append("| real photos | " + " | ".join(cells) + " | the held-out people's own photos |")
    for row, measures in rows:
        cells = ["(not run yet)" if measures is None else _cell(measures.get(key), digits) for _, key, digits in COLUMNS]
        lines.append(f"| {row.name} | " + " | ".join(cells) + f" | {row.description} |")
    return "\n".join(lines) + "\n"


def _cell(value: Any, digits: int) -> str:
    """A number with ``digits`` decimals; ``-`` when missing or not a number."""
    return "-" if not isinstance(value, (int, float)) or math.isnan(value) else f"{value:.{digits}f}"


def run_seed001(settings: Seed001Settings, report: Callable[[str], None] = lambda line: None,
                judges: Judges | None = None) -> tuple[Path, Path]:
    """Train (or read back) and measure every chosen row; returns the Markdown and JSON tables' paths.

    Raises:
        BadInputError: no data, a folder that is not prepared data or lacks the splits, a row folder made with
            other settings, an unknown row.
    """
    if not settings.data:
        raise BadInputError(settings.out, "table seed001 needs one or more prepared folders (--data)")
    rows = settings.chosen()
    settings.options()
    sets = settings.eval_sets()
    judges = judges or Judges.default()
    done: list[tuple[Row, dict[str, Any] | None]] = [(row, None) for row in rows]
    markdown, raw = settings.out / f"table{TABLE_NAME}.md", settings.out / f"table{TABLE_NAME}.json"
    spec = settings.run_spec()
    for index, row in enumerate(rows):
        folder = settings.out / (row.step1_of or row.name)
        if row.step1_of is None:
            claim_run(folder, {**spec, "row": row.name, "family": row.family, "fields": row.fields})
            if read_summary(folder) is None:
                report(f"{row.name}: training")
                _train(row, folder, settings)
        model_folder = folder / STEP1_DIR if row.step1_of else folder
        measures_path = model_folder / MEASURES_FILE
        summary = read_summary(folder)
        measures = json.loads(measures_path.read_text()) if measures_path.is_file() else None
        if measures is None or measures.get("eval_split") != settings.eval_split:
            report(f"{row.name}: measuring on split {settings.eval_split}")
            measures = {**measure(load_model(model_folder), sets, judges), "eval_split": settings.eval_split}
            write_text_atomic(measures_path, json.dumps(json_safe(measures), indent=2, allow_nan=False))
        measures["seconds"] = _seconds(summary, row.step1_of is not None)
        done[index] = (row, measures)
        write_text_atomic(markdown, render(done, settings))
        write_text_atomic(raw, json.dumps(json_safe({"table": TABLE_NAME, "settings": {**spec, "eval_split": settings.eval_split},
                                                     "rows": {r.name: m for r, m in done}}), indent=2, allow_nan=False))
        report(f"{row.name}: happy {_cell(measures['top1_happy'], 2)}, surprise {_cell(measures['top1_surprise'], 2)}, "
               f"rank-1 {_cell(measures['id_rank1'], 2)}, identity-function score {_cell(measures['between_targets'], 4)}")
    return markdown, raw
