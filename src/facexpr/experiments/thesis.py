"""The thesis' experiments, reproducible: tables 6.1, 6.2 and 6.3 regenerated on a prepared dataset.

* Table 6.1 (stage 1): each encoder x each beta schedule, trained on the
  neutral faces; minimum validation MSE and the epoch it was reached.
* Table 6.2 (stage 2): N = 3, 5, 7 input photos, one transfer mode and encoder.
* Table 6.3 (stage 2): the four transfer modes x two encoders.

Every training run has its own folder under ``OUT``:

* ``OUT/stage1/<arch>-<beta>``: stage-1 models, the rows of table 6.1 and the
  pretrained models of the stage-2 runs (schedule ``stage1_beta``) unless
  given with ``pretrained``;
* ``OUT/stage2/<mode>-<arch>-n<N>``: stage-2 models.

Each folder holds ``experiment.json`` (the settings of its run) and what
training writes there (checkpoints, logs, the model, ``summary.json``).
Rerunning a table resumes it: a run with ``summary.json`` is read back, not
retrained; an interrupted one continues from its last checkpoint. A folder
whose ``experiment.json`` records other settings is refused, so one ``OUT``
holds one set of settings, shared by the tables run into it.

Each table is written as ``OUT/table<number>.md`` (Markdown) and
``OUT/table<number>.json`` (the raw training summaries, strict JSON: a
non-finite number becomes the string ``"nan"`` or ``"inf"``), rewritten after every
run so that a long table can be read while it fills.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from facexpr.data.pairing import PreparedDataset
from facexpr.experiments.runs import claim_run, read_summary
from facexpr.io import BadInputError, write_text_atomic
from facexpr.metrics import json_safe
from facexpr.models.neutralizer import MODES, NeutralizerConfig
from facexpr.models.vae import ARCHITECTURES, VAEConfig
from facexpr.training import (
    BETA_SCHEDULES,
    BetaSchedule,
    TrainOptions,
    load_stage1,
    train_neutralizer,
    train_vae,
)
from facexpr.training.data import open_prepared, validation_split

STAGE1_DIR = "stage1"
STAGE2_DIR = "stage2"
ENCODERS = ("vgg", "resnet", "bigconv")

#: Column header of each grid axis in the Markdown tables.
AXIS_HEADERS = {"arch": "encoder", "beta": "beta schedule", "mode": "transfer mode", "shots": "N input photos"}
#: Columns after the axes: what each run measured.
MEASURED = ("min val MSE", "best epoch", "epochs run", "stop reason", "seconds", "run folder")


@dataclass(frozen=True)
class Table:
    """One of the thesis' tables: which stage it trains, the grid axes of its rows and their default values."""

    number: str
    title: str
    stage: str
    axes: tuple[str, ...]
    defaults: dict[str, tuple]


TABLES: dict[str, Table] = {
    "6.1": Table("6.1", "stage 1: encoders x beta schedules, trained on neutral faces", "vae",
                 ("arch", "beta"), {"arch": ENCODERS, "beta": BETA_SCHEDULES}),
    "6.2": Table("6.2", "stage 2: number of input photos N", "neutralizer",
                 ("shots", "mode", "arch"), {"shots": (3, 5, 7), "mode": ("frozen-reg",), "arch": ("vgg",)}),
    "6.3": Table("6.3", "stage 2: transfer-learning modes x encoders", "neutralizer",
                 ("mode", "arch", "shots"), {"mode": MODES, "arch": ("vgg", "resnet"), "shots": (1,)}),
}


@dataclass(frozen=True)
class Run:
    """One training of a table: stage 1 (``arch``, ``beta``) or stage 2 (``arch``, ``mode``, ``shots``)."""

    stage: str
    arch: str
    beta: str | None = None
    mode: str | None = None
    shots: int | None = None

    @property
    def folder(self) -> str:
        """The run's folder, relative to ``OUT``."""
        if self.stage == "vae":
            return f"{STAGE1_DIR}/{self.arch}-{self.beta}"
        return f"{STAGE2_DIR}/{self.mode}-{self.arch}-n{self.shots}"


@dataclass
class RunResult:
    """A run's folder and, once trained or read back, its training summary (``reused``: read back).

    ``stage1`` is the stage-1 model a stage-2 run started from: a run of
    ``OUT/stage1``, a given model folder, or None (scratch mode).
    """

    run: Run
    folder: Path
    summary: dict[str, Any] | None = None
    reused: bool = False
    stage1: "RunResult | Path | None" = None


@dataclass
class TableResult:
    """A table's rows and where its Markdown and JSON went."""

    table: Table
    rows: list[RunResult]
    markdown: Path | None = None
    json: Path | None = None

    @property
    def stage1(self) -> dict[str, RunResult | Path]:
        """The stage-1 models the table's stage-2 runs used so far, by encoder."""
        return {row.run.arch: row.stage1 for row in self.rows if row.stage1 is not None}


@dataclass(frozen=True)
class ExperimentSettings:
    """What every run of the tables shares, and the grid values that override a table's defaults.

    Attributes:
        data: a prepared dataset (``facexpr prepare``).
        out: the folder of the runs and the tables.
        preset, size, width: the architecture preset (``cpu`` or ``paper``) and
            its crop size and width multiplier (None: the preset's).
        epochs, batch_size, seed: passed to every training (the thesis'
            stopping rule may end a run earlier).
        epoch_items: an epoch draws at least this many training items (small
            datasets are repeated with new augmentations; 0: one pass).
        split: training split (validation uses ``val`` when present).
        archs, betas, modes, shots: the grid values (None: the table's
            defaults); a table uses those of its axes.
        stage1_beta: beta schedule of the stage-1 models trained for tables 6.2 and 6.3.
        pretrained: stage-1 model folders to use instead of training them
            (one per encoder; the encoder is read from each model).
        blend: stage 2 with the learned blending mask (ours); False is the thesis' model.
        progress: show Lightning's progress bar during each training.
    """

    data: Path
    out: Path
    preset: str = "cpu"
    size: int | None = None
    width: float | None = None
    epochs: int = 60
    batch_size: int = 16
    seed: int = 0
    epoch_items: int = 512
    split: str = "train"
    archs: tuple[str, ...] | None = None
    betas: tuple[str, ...] | None = None
    modes: tuple[str, ...] | None = None
    shots: tuple[int, ...] | None = None
    stage1_beta: str = "incremental"
    pretrained: tuple[Path, ...] = ()
    blend: bool = False
    progress: bool = True

    def check(self) -> None:
        """Reject unknown grid values and impossible training options.

        Raises:
            BadInputError: one line naming the bad value.
        """
        choices = {"archs": (self.archs, ARCHITECTURES), "betas": (self.betas, BETA_SCHEDULES),
                   "modes": (self.modes, MODES), "stage1_beta": ((self.stage1_beta,), BETA_SCHEDULES)}
        for name, (values, allowed) in choices.items():
            unknown = [v for v in values or () if v not in allowed]
            if unknown or values == ():
                raise BadInputError(self.out, f"{name}: {', '.join(unknown) or 'none given'}; "
                                              f"choose from {', '.join(sorted(allowed))}")
        if self.shots is not None and (not self.shots or min(self.shots) < 1):
            raise BadInputError(self.out, "shots: give one or more numbers of input photos, each at least 1")
        self.vae_config()
        self.train_options()

    def vae_config(self, arch: str = "vgg") -> VAEConfig:
        """The architecture of the runs of encoder ``arch`` from the preset, size and width.

        Raises:
            BadInputError: unknown preset, impossible size or width.
        """
        try:
            return VAEConfig.from_preset(self.preset, arch=arch, size=self.size, width=self.width)
        except ValueError as error:
            raise BadInputError(self.out, str(error)) from None

    def train_options(self) -> TrainOptions:
        """The training options every run shares.

        Raises:
            BadInputError: epochs or batch size below 1, negative epoch items.
        """
        try:
            return TrainOptions(epochs=self.epochs, batch_size=self.batch_size, seed=self.seed,
                                min_epoch_items=self.epoch_items, progress=self.progress)
        except ValueError as error:
            raise BadInputError(self.out, str(error)) from None

    def grid(self, table: Table) -> list[Run]:
        """The table's runs, one per row, in row order (the first axis varies slowest)."""
        given = {"arch": self.archs, "beta": self.betas, "mode": self.modes, "shots": self.shots}
        values = [given[axis] or table.defaults[axis] for axis in table.axes]
        return [Run(table.stage, **dict(zip(table.axes, row))) for row in itertools.product(*values)]

    def spec(self, run: Run, vae: VAEConfig, pretrained: str | None = None) -> dict[str, Any]:
        """What identifies ``run`` with these settings (stored as ``experiment.json`` in its folder)."""
        spec: dict[str, Any] = {
            "stage": run.stage, "data": str(self.data.resolve()), "split": self.split, "vae": vae.to_dict(),
            "epochs": self.epochs, "batch_size": self.batch_size, "seed": self.seed, "epoch_items": self.epoch_items,
        }
        if run.stage == "vae":
            spec["beta"] = run.beta
        else:
            spec.update(mode=run.mode, shots=run.shots, blend=self.blend, pretrained=pretrained)
        return spec


def given_stage1(paths: Sequence[Path]) -> dict[str, tuple[Path, VAEConfig]]:
    """The stage-1 model folders given by the user, by encoder.

    Raises:
        BadInputError: a folder that is not a stage-1 model, or two models of one encoder.
    """
    models: dict[str, tuple[Path, VAEConfig]] = {}
    for path in paths:
        config = load_stage1(path).vae_config
        if config.arch in models:
            raise BadInputError(path, f"a second stage-1 model of encoder {config.arch!r} (first: {models[config.arch][0]})")
        models[config.arch] = (Path(path), config)
    return models


def _cell(value: Any, digits: int | None = None) -> str:
    """A Markdown cell: ``-`` for a missing value, numbers with ``digits`` decimals (a string such as ``"nan"`` as is)."""
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if digits is not None and not isinstance(value, str) else str(value)


def summary_cells(summary: dict[str, Any] | None) -> list[str]:
    """The measured columns (:data:`MEASURED` but the run folder) of one run's training summary.

    The best epoch counts from 1 (``summary.json``'s ``best_epoch`` + 1); the
    stop reason is its kind (departure, patience, max_epochs, ...), the full
    sentence being in the summary, followed by ``diverged`` when the last
    epoch's validation MSE is not a finite number.
    """
    if summary is None:
        return ["(not run yet)", "-", "-", "-", "-"]
    best_epoch = summary.get("best_epoch")
    reason = str(summary.get("stop_reason") or "-").split(":")[0]
    if not math.isfinite(float(summary.get("final", {}).get("val_mse", 0.0))):
        reason += ", diverged (last val MSE not finite)"
    return [
        _cell(summary.get("best_val_mse"), 6),
        _cell(None if best_epoch is None else best_epoch + 1),
        _cell(summary.get("epochs")),
        reason,
        _cell(summary.get("seconds"), 1),
    ]


def render_markdown(result: TableResult, settings: ExperimentSettings, prepared: PreparedDataset) -> str:
    """The table as Markdown: a heading, the shared settings, one row per run."""
    table = result.table
    vae = settings.vae_config()
    val = validation_split(prepared, settings.split)
    epoch = f"epochs of at least {settings.epoch_items} items" if settings.epoch_items else "one pass per epoch"
    blend = "" if table.stage == "vae" else ", blending mask " + ("on (ours)" if settings.blend else "off (the thesis' model)")
    lines = [
        f"# Table {table.number}: {table.title}",
        "",
        f"Data `{settings.data}`: trained on split `{settings.split}`, validated on `{val}`. "
        f"Preset `{settings.preset}` ({vae.size} px, width x{vae.width:g}), at most {settings.epochs} epochs, "
        f"{epoch}, batch {settings.batch_size}, seed {settings.seed}{blend}.",
        "",
        "MSE: per-pixel mean squared error on [0, 1] images of the validation split, lowest over the epochs; "
        "best epoch: where it was reached (counted from 1); stop reason: the thesis' departure rule, patience, "
        "or the epoch budget; seconds: training time.",
    ]
    if result.stage1:
        used = []
        for arch, stage1 in result.stage1.items():
            if isinstance(stage1, Path):
                used.append(f"{arch} `{stage1}` (given)")
            else:
                mse = (stage1.summary or {}).get("best_val_mse")
                used.append(f"{arch} `{stage1.run.folder}` (beta {stage1.run.beta}, min val MSE {_cell(mse, 6)})")
        lines += ["", "Stage-1 models: " + "; ".join(used) + "."]
    headers = [AXIS_HEADERS[axis] for axis in table.axes] + list(MEASURED)
    lines += ["", "| " + " | ".join(headers) + " |",
              "|" + "|".join("---" for _ in table.axes) + "|" + "---:|---:|---:|---|---:|---|"]
    for row in result.rows:
        labels = [str(getattr(row.run, axis)) for axis in table.axes]
        lines.append("| " + " | ".join([*labels, *summary_cells(row.summary), f"`{row.run.folder}`"]) + " |")
    return "\n".join(lines) + "\n"


def _write(result: TableResult, settings: ExperimentSettings, prepared: PreparedDataset) -> None:
    """(Re)write ``OUT/table<number>.md`` and ``.json``."""
    def entry(item: RunResult) -> dict[str, Any]:
        return {**vars(item.run), "folder": item.run.folder, "reused": item.reused, "summary": item.summary}

    stage1 = {arch: str(s) if isinstance(s, Path) else entry(s) for arch, s in result.stage1.items()}
    raw = {"table": result.table.number, "title": result.table.title,
           "settings": json.loads(json.dumps(vars(settings), default=str)),
           "rows": [entry(row) for row in result.rows], "stage1": stage1}
    number = result.table.number
    result.markdown, result.json = settings.out / f"table{number}.md", settings.out / f"table{number}.json"
    write_text_atomic(result.json, json.dumps(json_safe(raw), indent=2, allow_nan=False))
    write_text_atomic(result.markdown, render_markdown(result, settings, prepared))


class _Runner:
    """Trains or reads back the runs of one ``OUT``, reporting each with ``report``."""

    def __init__(self, settings: ExperimentSettings, prepared: PreparedDataset, report: Callable[[str], None]):
        self.settings = settings
        self.prepared = prepared
        self.report = report
        self.options = settings.train_options()
        self.given = given_stage1(settings.pretrained)
        self.stage1: dict[str, RunResult] = {}

    def execute(self, item: RunResult, spec: dict[str, Any], train: Callable[[], dict[str, Any] | None]) -> None:
        """Read back a finished run, or train it (resuming from its checkpoint if interrupted)."""
        claim_run(item.folder, spec)
        item.summary = read_summary(item.folder)
        if item.summary is not None:
            item.reused = True
            self.report(f"{item.run.folder}: finished earlier, read back")
            return
        self.report(f"{item.run.folder}: training")
        item.summary = train()
        self.report(f"{item.run.folder}: min val MSE {_cell((item.summary or {}).get('best_val_mse'), 6)}")

    def vae(self, item: RunResult) -> None:
        """Stage 1 on the neutral faces of the training split."""
        config = self.settings.vae_config(item.run.arch)
        schedule = BetaSchedule(item.run.beta)
        self.execute(item, self.settings.spec(item.run, config), lambda: train_vae(
            self.prepared, item.folder, config, schedule, self.options, split=self.settings.split).summary)

    def stage1_for(self, run: Run) -> RunResult | Path | None:
        """The stage-1 model of ``run``'s encoder: given, or trained once into ``OUT/stage1``; None for a
        scratch run without a given one."""
        if run.arch in self.given:
            return self.given[run.arch][0]
        if run.mode == "scratch":
            return None
        if run.arch not in self.stage1:
            stage1 = Run("vae", run.arch, beta=self.settings.stage1_beta)
            self.stage1[run.arch] = RunResult(stage1, self.settings.out / stage1.folder)
            self.vae(self.stage1[run.arch])
        return self.stage1[run.arch]

    def neutralizer(self, item: RunResult) -> None:
        """Stage 2 in the run's mode on groups of N photos, from the encoder's stage-1 model (scratch: none
        needed, but a given one's architecture is used)."""
        run = item.run
        item.stage1 = self.stage1_for(run)
        vae, folder, recorded = self.settings.vae_config(run.arch), None, None
        if isinstance(item.stage1, Path):
            vae, folder, recorded = self.given[run.arch][1], item.stage1, str(item.stage1.resolve())
        elif item.stage1 is not None:
            folder, recorded = item.stage1.folder, item.stage1.run.folder
        config = NeutralizerConfig(vae=vae, mode=run.mode, blend=self.settings.blend, max_inputs=run.shots)
        pretrained = None if run.mode == "scratch" else folder
        self.execute(item, self.settings.spec(run, vae, recorded), lambda: train_neutralizer(
            self.prepared, item.folder, config, pretrained, self.options, shots=run.shots,
            split=self.settings.split).summary)


def run_tables(
    numbers: Sequence[str], settings: ExperimentSettings, report: Callable[[str], None] = lambda line: None
) -> list[TableResult]:
    """Train (or read back) every run of the tables ``numbers`` (``6.1``, ``6.2``, ``6.3``) and write them.

    ``report`` receives one line per run (trained or read back).

    Raises:
        BadInputError: an unknown table, bad settings, data that is not a
            prepared dataset or lacks what a stage needs, a run folder made
            with other settings, or an unusable ``pretrained`` model.
    """
    unknown = [n for n in numbers if n not in TABLES]
    if unknown or not numbers:
        raise BadInputError(settings.out, f"unknown table {', '.join(unknown) or '(none)'}; choose from {', '.join(TABLES)}")
    settings.check()
    prepared = open_prepared(settings.data)
    runner = _Runner(settings, prepared, report)
    results = []
    for number in numbers:
        table = TABLES[number]
        result = TableResult(table, [RunResult(run, settings.out / run.folder) for run in settings.grid(table)])
        _write(result, settings, prepared)
        for index, item in enumerate(result.rows, start=1):
            report(f"table {number} [{index}/{len(result.rows)}]")
            (runner.vae if table.stage == "vae" else runner.neutralizer)(item)
            _write(result, settings, prepared)
        results.append(result)
    return results
