"""What every experiment run folder shares: the settings it was made with (``experiment.json``), checked before
a rerun resumes it, and its training summary once finished; and what the seed systems' tables (seed001, nfgan)
share: their settings and the choice of rows."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from facexpr.data.pairing import PreparedDataset
from facexpr.io import BadInputError, write_text_atomic
from facexpr.training import SUMMARY_FILE, TrainOptions
from facexpr.training.data import open_prepared

RowT = TypeVar("RowT")

SPEC_FILE = "experiment.json"


def claim_run(folder: Path, spec: dict[str, Any]) -> None:
    """Record ``spec`` in a new run folder, or check that an existing one was made with the same settings.

    Raises:
        BadInputError: the folder is not a run of these experiments, or holds one with other settings.
    """
    path = folder / SPEC_FILE
    if not path.is_file():
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise BadInputError(folder, f"exists but is not a run of facexpr experiments (no {SPEC_FILE}); choose another --out")
        write_text_atomic(path, json.dumps(spec, indent=2))
        return
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BadInputError(path, f"unreadable ({error})") from None
    wanted = json.loads(json.dumps(spec))
    differ = sorted(k for k in {*recorded, *wanted} if recorded.get(k) != wanted.get(k))
    if differ:
        detail = "; ".join(f"{k}: {recorded.get(k)!r} there, {wanted.get(k)!r} now" for k in differ)
        raise BadInputError(folder, f"holds a run with other settings ({detail}); rerun with the same settings "
                                    "or choose another --out")


def read_summary(folder: Path) -> dict[str, Any] | None:
    """The finished run's ``summary.json``, or None while it is unfinished.

    Raises:
        BadInputError: the file exists but is not JSON.
    """
    path = folder / SUMMARY_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BadInputError(path, f"unreadable training summary ({error})") from None


@dataclass(frozen=True)
class TableSettings:
    """What every row of a seed system's table shares.

    Attributes:
        data: the prepared folders to train on and to evaluate (``--data`` repeats).
        out: the folder of the rows and the table.
        rows: the names of the rows to run (default: all of the table's).
        epochs, batch_size, seed, epoch_items: passed to every training.
        split: training split (validation uses ``val``); eval_split: the held-out people the table measures.
        progress: show each training's progress bar.
    """

    data: tuple[Path, ...]
    out: Path
    rows: tuple[str, ...] | None = None
    epochs: int = 60
    batch_size: int = 16
    seed: int = 0
    epoch_items: int = 512
    split: str = "train"
    eval_split: str = "test"
    progress: bool = True

    def options(self) -> TrainOptions:
        """The training options of every row.

        Raises:
            BadInputError: impossible epochs, batch size or epoch items.
        """
        try:
            return TrainOptions(epochs=self.epochs, batch_size=self.batch_size, seed=self.seed,
                                min_epoch_items=self.epoch_items, progress=self.progress)
        except ValueError as error:
            raise BadInputError(self.out, str(error)) from None

    def eval_sets(self) -> list[tuple[PreparedDataset, str]]:
        """Each ``--data`` folder opened, with the split the table measures on (checked before any training).

        Raises:
            BadInputError: an unreadable folder, or one without :attr:`eval_split`.
        """
        sets = []
        for path in self.data:
            prepared = open_prepared(path)
            if self.eval_split != "all" and self.eval_split not in prepared.splits:
                raise BadInputError(prepared.manifest_path, f"no split {self.eval_split!r} to measure on")
            sets.append((prepared, self.eval_split))
        return sets

    def run_spec(self, **extra: Any) -> dict[str, Any]:
        """What every row's ``experiment.json`` records of these settings (plus a table's ``extra`` fields), so a
        rerun with other settings is refused instead of mixing runs."""
        return {"data": [str(Path(d).resolve()) for d in self.data], "split": self.split, "epochs": self.epochs,
                "batch_size": self.batch_size, "seed": self.seed, "epoch_items": self.epoch_items, **extra}

    def choose(self, rows: Sequence[RowT], name: Callable[[RowT], str],
               brings: Callable[[RowT], str | None]) -> list[RowT]:
        """The rows named in :attr:`rows` (all when None), in table order, with the row each one ``brings`` along
        (the row whose model it is built on).

        Raises:
            BadInputError: an unknown row name.
        """
        known = {name(row): row for row in rows}
        wanted = set(self.rows or known)
        unknown = sorted(wanted - set(known))
        if unknown:
            raise BadInputError(self.out, f"unknown row {', '.join(unknown)}; choose from {', '.join(known)}")
        wanted |= {brings(known[n]) for n in wanted if brings(known[n])}
        return [row for row in rows if name(row) in wanted]


def number(value: Any) -> float:
    """A measure read back from JSON as a float (``"nan"``/``"inf"`` strings included; NaN when missing)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def cell(value: Any, digits: int) -> str:
    """A table cell: a number with ``digits`` decimals; ``-`` when missing or not a number."""
    value = number(value)
    return "-" if math.isnan(value) else f"{value:.{digits}f}"
