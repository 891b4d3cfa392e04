"""Table ``seed002``: the emotion-VAE paper's three Fader conditions, measured as expression sliders.

"Facial Emotion Representation and Reconstruction with VAEs" trains its Fader
network under three conditions: L2 reconstruction only; L2 and the multiclass
emotion loss on the latent; L2, multiclass and the adversarial latent
discriminator. Each of those rows trains one condition as published (the
decoder's faces; the ``cpu`` preset at the table's crop size otherwise), and
the row ``on-warp`` the cpu preset itself (ours: the adversarial condition,
its decoder's change of appearance added to a geometric model's face, the
geometric model fitted on the same crops), on the training split of every
given prepared folder into ``OUT/<row>``; each is measured on the held-out
people of ``eval_split`` of all folders together:

* the traversal, on every held-out neutral photo, each expression the model
  knows but neutral dialled at the strengths :data:`TRAVERSAL_STRENGTHS` and
  scored by the conditional yardstick
  (:func:`facexpr.evaluation.conditional.conditional_run`): the FER judge's
  top-1 agreement with the requested expression at the traversal's end
  (strength 1: the target's one-hot y), the dlib lip-corner lift the smile
  adds there, and identity rank-1 over every strength of the traversal (among
  one neutral photo per held-out person);
* neutralizing, every held-out expressive photo asked for the person's neutral
  face (the pieces of :mod:`facexpr.evaluation.evaluate`): the FER judge's
  p(neutral), the landmark error and identity rank-1 against the person's real
  neutral photo, beside the same scores of the input photo itself;
* reconstruction PSNR: the decoder's face at the input's own attributes (read
  by the latent classifier) against the input, over every held-out photo;
* the latent classifier's accuracy on held-out people, from the training
  summary (:func:`facexpr.training.emotion_data.held_out_scores`: each
  folder's test split, else its val split).

A finished row is read back; an interrupted one resumes; each row's
measurements are kept in ``OUT/<row>/seed002.json`` so a rerun only measures
what is new. Written as ``OUT/tableseed002.md`` and ``.json`` after every row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facexpr import metrics
from facexpr.data.pairing import PreparedDataset
from facexpr.data.records import FaceRecord
from facexpr.evaluation.conditional import (
    ConditionalRun,
    conditional_run,
    neutral_photos,
)
from facexpr.evaluation.evaluate import run_model
from facexpr.evaluation.items import evaluation_items
from facexpr.evaluation.scoring import Judges, Scorer
from facexpr.experiments.runs import (
    TableSettings,
    cell,
    claim_run,
    number,
    read_summary,
)
from facexpr.io import BadInputError, as_channels, to_uint8, write_text_atomic
from facexpr.judges.expression import EXPRESSION_CLASSES
from facexpr.metrics import json_safe
from facexpr.models import load_model
from facexpr.models.base import resize_to
from facexpr.models.emotion import FaderConfig, FaderModel
from facexpr.models.emotion.config import NEUTRAL
from facexpr.training.emotion_data import LabelledOptions
from facexpr.training.fader import train_fader

TABLE_NAME = "seed002"
MEASURES_FILE = "seed002.json"
#: Where along each expression's traversal the identity judge looks: its start (strength 0, the reconstruction),
#: its middle and its end (strength 1, the target's one-hot y: the largest value the decoder trained on).
TRAVERSAL_STRENGTHS = (0.0, 0.5, 1.0)
#: The traversal's end, where the FER judge is asked whether the requested expression shows.
TRAVERSAL_END = 1.0
#: Crops per forward pass when reconstructing.
BATCH_SIZE = 64


@dataclass(frozen=True)
class Row:
    """A Fader row: the table's name for it, the ``condition`` and ``on_warp`` of
    :class:`~facexpr.models.emotion.FaderConfig`, and what it trains with."""

    name: str
    condition: str
    description: str = ""
    on_warp: bool = False


ROWS: tuple[Row, ...] = (
    Row("l2", "l2", "L2 reconstruction only (the latent classifier reads a detached code)"),
    Row("multiclass", "multiclass", "L2 + the latent classifier's cross-entropy"),
    Row("adversarial", "adversarial", "L2 + multiclass + the latent discriminator, as published"),
    Row("on-warp", "adversarial", "the adversarial networks, their change of appearance added to a geometric "
        "model's face (ours, the default)", on_warp=True),
)

#: Markdown columns after the row's name: (header, key in the row's measures, decimals).
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("FER top-1 happy", "top1_happy", 2), ("FER top-1 all", "top1_expressions", 2),
    ("lip-corner lift moved, happy", "lift_happy", 3), ("identity rank-1 happy", "id_rank1_happy", 2),
    ("identity rank-1 along the traversal", "id_rank1_traversal", 2),
    ("p(neutral) neutralized", "p_neutral", 2), ("landmark error neutralized", "landmark_error", 3),
    ("identity rank-1 neutralized", "neutralized_id_rank1", 2),
    ("latent classifier accuracy", "latent_accuracy", 2), ("latent neutral vs happy", "latent_neutral_vs_happy", 2),
    ("reconstruction PSNR", "reconstruction_psnr", 2), ("seconds", "seconds", 0),
)


@dataclass(frozen=True)
class Seed002Settings(TableSettings):
    """What every row shares (see :class:`~facexpr.experiments.runs.TableSettings`), with 25 epochs by default
    and ``size``: the crop side of every row (a multiple of 8; the cpu preset's 64).

    25 epochs keep each Fader within 15 minutes on 2 CPU cores: the cpu preset took 18 to 27 s per epoch of 576
    items (64 px synthetic faces, l2 and adversarial, other jobs lightly loading the cores), so 8 to 11 minutes
    (an epoch of FRL London + Yale's 208 training crops draws 624). Heavily shared cores take several times that.
    """

    epochs: int = 25
    size: int = 64

    def chosen(self) -> list[Row]:
        """The rows to run, in table order.

        Raises:
            BadInputError: an unknown row name.
        """
        return self.choose(ROWS, lambda row: row.name, lambda row: None)

    def config(self, row: Row) -> FaderConfig:
        """The Fader config of ``row``: the cpu preset at the table's size with the row's condition and on warp
        or not.

        Raises:
            BadInputError: a size the networks cannot be built at.
        """
        try:
            return FaderConfig.from_preset("cpu", size=self.size, condition=row.condition, on_warp=row.on_warp)
        except ValueError as error:
            raise BadInputError(self.out, str(error)) from None


class FixedStrength(FaderModel):
    """A Fader model that dials every requested expression at one ``strength``: the conditional yardstick asks
    ``predict(inputs, target)``, so this view lets it measure a point of the traversal other than its end (the
    network is shared, not copied)."""

    def __init__(self, model: FaderModel, strength: float):
        super().__init__(model.fader_config, model.network, model.target_expression, model.geometric)
        self.strength = strength
        self.to(model.device)

    @property
    def name(self) -> str:
        """``fader-<condition>@<strength>``."""
        return f"{super().name}@{self.strength:g}"

    def predict(self, inputs: torch.Tensor, target: str | None = None, strength: float | None = None) -> torch.Tensor:
        """:meth:`FaderModel.predict` at this view's strength unless another is given."""
        return super().predict(inputs, target, self.strength if strength is None else strength)


def crops_for(model: FaderModel, prepared: PreparedDataset, records: Sequence[FaceRecord]) -> torch.Tensor:
    """Crops of ``records`` (B, C, S, S) at the model's size and channels, in [0, 1]."""
    return as_channels(resize_to(torch.stack([prepared.load(r) for r in records]), model.size), model.channels)


def _split(split: str) -> str | None:
    """The ``select`` argument of a split name (``all``: every split)."""
    return None if split == "all" else split


def _mean(values: Sequence[float]) -> float:
    """Mean over the finite values (NaN when none is)."""
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def traversal_scores(model: FaderModel, sets: Sequence[tuple[PreparedDataset, str]], judges: Judges) -> dict[str, Any]:
    """The traversal's columns: every expression but neutral asked of every held-out neutral photo at each of
    :data:`TRAVERSAL_STRENGTHS` through the conditional yardstick; FER top-1 of the requested expression at
    the end (per expression, happy, and over the expressions the judge knows), the lip-corner lift the smile adds
    there beside the real smiles', identity rank-1 per strength and over all of them, and the end's
    identity-function score (how much the requested expression changes the output)."""
    expressions = [t for t in model.target_expressions if t != NEUTRAL]
    runs: dict[float, ConditionalRun] = {s: conditional_run(FixedStrength(model, s), sets, judges)
                                         for s in TRAVERSAL_STRENGTHS}
    end = runs[TRAVERSAL_END]
    summary = end.summary()
    asked = [row for row in end.rows if row["target"] in expressions]
    rank1_by_strength = {f"{s:g}": _mean([r["id_rank1"] for r in run.rows if r["target"] in expressions])
                         for s, run in runs.items()}
    along = [r["id_rank1"] for run in runs.values() for r in run.rows if r["target"] in expressions]
    happy = summary.get("happy", {})
    return {
        "expressions": expressions,
        "neutral_photos": len(end.rows) // len(end.targets),
        "top1_by_expression": {t: summary[t]["expression_top1"] for t in expressions},
        "top1_happy": happy.get("expression_top1", math.nan),
        "top1_expressions": _mean([r["expression_top1"] for r in asked]),
        "lift_happy": happy.get("d_lip_corner_lift", math.nan),
        "real_lift_happy": happy.get("real_d_lip_corner_lift", math.nan),
        "id_rank1_happy": happy.get("id_rank1", math.nan),
        "id_rank1_by_strength": rank1_by_strength,
        "id_rank1_traversal": _mean(along),
        "between_targets": end.between_targets,
        "conditional": end.document(),
    }


def neutralizing_scores(model: FaderModel, sets: Sequence[tuple[PreparedDataset, str]], judges: Judges) -> dict[str, Any]:
    """The neutralizing columns: every held-out expressive photo asked for its person's neutral face (strength 1)
    and scored against the person's real neutral photo, all folders' people in one identity gallery: the FER
    judge's p(neutral), landmark error, identity rank-1 and PSNR; ``input_*`` the same scores of the expressive
    photo itself (the identity function), the reference the issue's targets are stated against."""
    neutralizer = model.for_target(NEUTRAL)
    outputs, inputs, targets, keys = [], [], [], []
    for prepared, split in sets:
        items = evaluation_items(prepared.select(split=_split(split)), NEUTRAL)
        if not items:
            continue
        produced, _ = run_model(neutralizer, prepared, items)
        outputs.append(produced)
        inputs.append(to_uint8(crops_for(model, prepared, [item.inputs[0] for item in items])))
        targets.append(to_uint8(crops_for(model, prepared, [item.target for item in items])))
        keys += [item.key for item in items]
    if not keys:
        return {"neutralized_items": 0, **{key: math.nan for key in (
            "p_neutral", "landmark_error", "neutralized_id_rank1", "neutralized_psnr",
            "input_p_neutral", "input_landmark_error", "input_id_rank1", "input_psnr")}}
    scorer = Scorer(np.concatenate(targets), keys, NEUTRAL, judges)
    _, produced = scorer.score(np.concatenate(outputs))
    _, unchanged = scorer.score(np.concatenate(inputs))
    return {"neutralized_items": len(keys),
            "p_neutral": produced["p_neutral"], "landmark_error": produced["landmark_error"],
            "neutralized_id_rank1": produced["id_rank1"], "neutralized_psnr": produced["psnr"],
            "input_p_neutral": unchanged["p_neutral"], "input_landmark_error": unchanged["landmark_error"],
            "input_id_rank1": unchanged["id_rank1"], "input_psnr": unchanged["psnr"]}


def unchanged_top1(model: FaderModel, sets: Sequence[tuple[PreparedDataset, str]], judges: Judges) -> dict[str, float]:
    """FER top-1 of the requested expression when the held-out neutral photos are returned unchanged (the
    identity function's score on the traversal's columns: how often the judge already reads each expression)."""
    photos = [crops_for(model, prepared, records) for prepared, split in sets
              if (records := neutral_photos(prepared, split))]
    if not photos:
        return {"top1_happy": math.nan, "top1_expressions": math.nan}
    top = judges.expression.probabilities(to_uint8(torch.cat(photos))).argmax(axis=1)
    read = [EXPRESSION_CLASSES[i] for i in top]
    known = [t for t in model.target_expressions if t != NEUTRAL and t in EXPRESSION_CLASSES]
    share = {t: float(np.mean([r == t for r in read])) for t in known}
    return {"top1_happy": share.get("happy", math.nan), "top1_expressions": _mean(list(share.values()))}


@torch.no_grad()
def reconstruction_psnr(model: FaderModel, sets: Sequence[tuple[PreparedDataset, str]]) -> dict[str, Any]:
    """PSNR of the decoder's reconstruction (the input's own attributes, read by the latent classifier: strength 0
    of the decoder's faces) against the input at the network's size, mean over every held-out photo of the model's
    expressions (identical images, PSNR infinite, are left out of the mean). On warp it is the same decoder's:
    its strength 0 is the photo itself."""
    values: list[float] = []
    for prepared, split in sets:
        records = prepared.select(split=_split(split), expressions=model.target_expressions)
        for start in range(0, len(records), BATCH_SIZE):
            crops = resize_to(crops_for(model, prepared, records[start:start + BATCH_SIZE]), model.fader_config.size)
            rest, own = model.latent_attributes(crops.to(model.device))
            rebuilt = model.decode_attributes(rest, own).clamp(0, 1).cpu()
            values += [float(v) for v in np.atleast_1d(metrics.psnr(to_uint8(rebuilt), to_uint8(crops)))]
    return {"reconstruction_psnr": _mean(values), "reconstructed_items": len(values)}


def measure(model: FaderModel, sets: Sequence[tuple[PreparedDataset, str]], judges: Judges) -> dict[str, Any]:
    """Every column of the table that is measured on the held-out people (see the module docstring), and the
    input photos' scores under ``reference``."""
    return {**traversal_scores(model, sets, judges), **neutralizing_scores(model, sets, judges),
            **reconstruction_psnr(model, sets), "reference": unchanged_top1(model, sets, judges)}


def from_summary(summary: dict[str, Any] | None) -> dict[str, Any]:
    """The columns the training summary holds: training seconds and the latent classifier's held-out accuracy
    (and neutral vs happy), with the splits it was measured on."""
    summary = summary or {}
    latent = summary.get("latent_classifier") or {}
    return {"seconds": number(summary.get("seconds")), "latent_accuracy": number(latent.get("accuracy")),
            "latent_neutral_vs_happy": number((latent.get("neutral_vs") or {}).get("happy")),
            "latent_splits": latent.get("splits", [])}




def reference_rows(measures: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """The rows shown above the models: the input photos themselves and the held-out people's real smiles."""
    unchanged = {**measures["reference"], "p_neutral": measures["input_p_neutral"],
                 "landmark_error": measures["input_landmark_error"],
                 "neutralized_id_rank1": measures["input_id_rank1"]}
    return [("input", unchanged, ("the photo itself: neutral photos for the FER columns, expressive ones for "
                                  "the neutralized columns")),
            ("real photos", {"lift_happy": measures["real_lift_happy"]},
             "the held-out people's real smiles against their neutral photos")]


def render(rows: Sequence[tuple[Row, dict[str, Any] | None]], settings: Seed002Settings) -> str:
    """The table as Markdown: heading, settings and what the columns mean, the reference rows, one line per row."""
    strengths = ", ".join(f"{s:g}" for s in TRAVERSAL_STRENGTHS)
    lines = [
        "# Table seed002: the emotion-VAE paper's Fader network under its three conditions, and ours on warp",
        "",
        (f"Trained on split `{settings.split}` of {', '.join(f'`{d}`' for d in settings.data)} together (cpu preset "
         f"at {settings.size} px, at most {settings.epochs} epochs of at least {settings.epoch_items} items, batch "
         f"{settings.batch_size}, seed {settings.seed}); measured on split `{settings.eval_split}` of every folder "
         "together (people not in training)."),
        "",
        ("FER top-1: how often the FER judge reads the requested expression on the outputs for the held-out "
         "people's neutral photos at the traversal's end (strength 1; 'all': every expression the model knows "
         "but neutral that the judge knows). Lip-corner lift moved: how far the dlib lip corners of the smiling "
         "output rose from the input's (inter-ocular units; `real photos`: the people's real smiles). Identity "
         "rank-1 among one neutral photo per held-out person: of the smiling outputs (happy), and of every "
         f"expression's outputs at strengths {strengths} (along the traversal). Neutralized: every held-out "
         "expressive photo asked for the neutral face; p(neutral) is the FER judge's mean probability of neutral, "
         "landmark error the distance of the 51 inner dlib landmarks from the real neutral photo's (inter-ocular "
         "units), rank-1 against the real neutral photos. Latent classifier: accuracy on held-out people (each "
         "folder's test split, else val) and neutral vs happy told apart by the larger of the two probabilities. "
         "Reconstruction PSNR: the decoder's face at the input's own attributes against the input, every held-out "
         "photo. Seconds: training, wall clock."),
        "",
        "| row | " + " | ".join(header for header, _, _ in COLUMNS) + " | what |",
        "|---|" + "---:|" * len(COLUMNS) + "---|",
    ]
    first = next((m for _, m in rows if m is not None), None)
    if first is not None:
        for name, values, what in reference_rows(first):
            lines.append(f"| {name} | " + " | ".join(cell(values.get(key), digits) for _, key, digits in COLUMNS)
                         + f" | {what} |")
    for row, measures in rows:
        cells = ["(not run yet)" if measures is None else cell(measures.get(key), digits) for _, key, digits in COLUMNS]
        lines.append(f"| {row.name} | " + " | ".join(cells) + f" | {row.description} |")
    return "\n".join(lines) + "\n"


def _read_measures(path: Path) -> dict[str, Any] | None:
    """A row's stored measurements, None when there are none yet.

    Raises:
        BadInputError: the file exists but is not JSON.
    """
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BadInputError(path, f"unreadable measurements ({error}); delete it to measure the row again") from None


def run_seed002(settings: Seed002Settings, report: Callable[[str], None] = lambda line: None,
                judges: Judges | None = None) -> tuple[Path, Path]:
    """Train (or read back) and measure every chosen row; returns the Markdown and JSON tables' paths.

    Raises:
        BadInputError: no data, a folder that is not prepared data or lacks the split to measure on, no neutral
            photos to measure on or to train with, a row folder made with other settings, an unknown row, a size
            the Fader cannot be built at.
    """
    if not settings.data:
        raise BadInputError(settings.out, "table seed002 needs one or more prepared folders (--data)")
    rows = settings.chosen()
    settings.options()
    for row in rows:
        settings.config(row)
    sets = settings.eval_sets()
    if not any(neutral_photos(prepared, split) for prepared, split in sets):
        raise BadInputError(sets[0][0].manifest_path, f"no neutral photos in split {settings.eval_split!r} of any "
                                                       "--data folder: the traversal starts from them")
    judges = judges or Judges.default()
    done: list[tuple[Row, dict[str, Any] | None]] = [(row, None) for row in rows]
    markdown, raw = settings.out / f"table{TABLE_NAME}.md", settings.out / f"table{TABLE_NAME}.json"
    spec = settings.run_spec(size=settings.size)
    wanted = {"eval_split": settings.eval_split, "strengths": list(TRAVERSAL_STRENGTHS)}
    for index, row in enumerate(rows):
        folder = settings.out / row.name
        claim_run(folder, {**spec, "row": row.name, "condition": row.condition})
        if read_summary(folder) is None:
            report(f"{row.name}: training")
            try:
                train_fader([prepared for prepared, _ in sets], folder, split=settings.split,
                            config=settings.config(row), labelled=LabelledOptions(), options=settings.options())
            except ValueError as error:  # e.g. no neutral crops to train on
                raise BadInputError(sets[0][0].manifest_path, str(error)) from None
        measures_path = folder / MEASURES_FILE
        measures = _read_measures(measures_path)
        if measures is None or any(measures.get(key) != value for key, value in wanted.items()):
            report(f"{row.name}: measuring on split {settings.eval_split}")
            model = load_model(folder)
            measures = {**measure(model, sets, judges), **wanted}
            write_text_atomic(measures_path, json.dumps(json_safe(measures), indent=2, allow_nan=False))
        measures = {**measures, **from_summary(read_summary(folder))}
        done[index] = (row, measures)
        write_text_atomic(markdown, render(done, settings))
        write_text_atomic(raw, json.dumps(json_safe({"table": TABLE_NAME, "settings": {**spec, **wanted},
                                                     "rows": {r.name: m for r, m in done}}), indent=2, allow_nan=False))
        report(f"{row.name}: happy {cell(measures['top1_happy'], 2)} (rank-1 {cell(measures['id_rank1_happy'], 2)}), "
               f"rank-1 along the traversal {cell(measures['id_rank1_traversal'], 2)}, p(neutral) neutralized "
               f"{cell(measures['p_neutral'], 2)} (input {cell(measures['input_p_neutral'], 2)}), latent accuracy "
               f"{cell(measures['latent_accuracy'], 2)}, reconstruction PSNR {cell(measures['reconstruction_psnr'], 2)}")
    return markdown, raw
