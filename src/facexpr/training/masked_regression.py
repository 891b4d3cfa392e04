"""``facexpr train mr``: masked regression (Khan et al.) and its baselines, one mapping or all of them, closed form."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facexpr.io import BadInputError
from facexpr.models.masked_regression import (
    COLOUR_MODES,
    EgoOptions,
    GlobalRidge,
    MaskedLasso,
    MaskedOMP,
    MaskedRegression,
    ReceptiveField,
    expression_mappings,
)
from facexpr.training.data import DataSource, open_prepared
from facexpr.training.methods import register_method
from facexpr.training.trainer import TrainResult

#: ``--method``: masked regression, or one of the paper's baselines.
REGRESSION_METHODS = ("ridge", "lasso", "omp", "global")
#: ``--split all``: every crop.
ALL_SPLITS = "all"


@dataclass(frozen=True)
class MaskedRegressionConfig:
    """Which mapping and which regression.

    Attributes:
        source: input expression, e.g. happy (neutralization) or neutral (synthesis).
        target: output expression.
        all_mappings: train every neutral <-> expression mapping of the split, one subfolder each
            (happy-to-neutral, neutral-to-happy, ...); leave out source and target.
        method: ridge (masked regression), or a baseline: lasso, omp, global.
        r: receptive field side (odd): each output pixel sees r x r input pixels.
        dilation: spacing of the receptive field's taps in pixels.
        lam: ridge penalty against the error summed over pairs (ridge).
        colour: tuple (one weight set shared by R, G, B) or channel (one per channel).
        l1: lasso: l1 penalty against the error summed over pairs.
        nonzero: omp: taps each pixel may use.
        global_lambda: global: ridge penalty of the whole-image map.
    """

    source: str | None = None
    target: str = "neutral"
    all_mappings: bool = False
    method: str = "ridge"
    r: int = 3
    dilation: int = 1
    lam: float = field(default=0.3, metadata={"flag": "--lambda"})
    colour: str = "tuple"
    l1: float = 0.01
    nonzero: int = 3
    global_lambda: float = 10.0

    def __post_init__(self) -> None:
        """Reject impossible values (ValueError, one line, naming the option)."""
        if self.method not in REGRESSION_METHODS:
            raise ValueError(f"--method must be one of {', '.join(REGRESSION_METHODS)}, not {self.method!r}")
        if self.colour not in COLOUR_MODES:
            raise ValueError(f"--colour must be one of {', '.join(COLOUR_MODES)}, not {self.colour!r}")
        if self.r < 1 or self.r % 2 == 0:
            raise ValueError(f"--r must be a positive odd number, not {self.r}")
        if self.dilation < 1:
            raise ValueError(f"--dilation must be at least 1, not {self.dilation}")
        if not self.lam > 0 or not self.l1 > 0 or not self.global_lambda > 0:
            raise ValueError(f"--lambda, --l1 and --global-lambda must be positive, not {self.lam}, {self.l1} and "
                             f"{self.global_lambda}")
        if not 1 <= self.nonzero <= self.r * self.r:
            raise ValueError(f"--nonzero must be between 1 and r*r = {self.r * self.r}, not {self.nonzero}")

def fit_mapping(config: MaskedRegressionConfig, prepared: Any, split: str | None, source: str, target: str,
                ego: EgoOptions, progress: Callable[[int, int, str], None] | None = None) -> MaskedRegression | GlobalRidge:
    """Fit ``config``'s regression for one ``source -> target`` mapping of a prepared dataset's split."""
    taps = ReceptiveField(config.r, config.dilation)
    if config.method == "ridge":
        return MaskedRegression.fit(prepared, split, source, target, taps, config.lam, config.colour, ego, progress)
    if config.method == "lasso":
        return MaskedLasso.fit(prepared, split, source, target, taps, config.l1, config.colour, ego, progress)
    if config.method == "omp":
        return MaskedOMP.fit(prepared, split, source, target, taps, config.nonzero, config.colour, ego, progress)
    return GlobalRidge.fit(prepared, split, source, target, config.global_lambda, progress)


def mapping_folder(source: str, target: str) -> str:
    """The subfolder of one mapping under ``--all-mappings``: ``happy-to-neutral``."""
    return f"{source}-to-{target}"


@register_method("mr", config=MaskedRegressionConfig, ego=EgoOptions)
def train_masked_regression(data: Sequence[DataSource], out: str | Path, split: str, config: MaskedRegressionConfig,
                            ego: EgoOptions, progress: Callable[[int, int, str], None] | None = None) -> TrainResult:
    """Fit masked regression (Khan et al.) for a source -> target expression mapping, in closed form.

    Neutralization: --source happy --target neutral. Synthesis: --source
    neutral --target happy. The model folder holds config.json,
    weights.safetensors and bias/weight_norm/alpha PNGs; with --all-mappings
    one such folder per mapping.

    Raises:
        BadInputError: several folders, a split the folder lacks, no pairs, or a
            mapping asked for in two ways.
    """
    out = Path(out)
    if len(data) != 1:
        raise BadInputError(out, f"masked regression learns from one prepared folder, got {len(data)} --data")
    prepared = open_prepared(data[0])
    chosen = None if split == ALL_SPLITS else split
    if chosen is not None and chosen not in prepared.splits:
        raise BadInputError(prepared.manifest_path, f"no split {split!r} (present: {', '.join(prepared.splits)})")
    if config.all_mappings:
        if config.source is not None:
            raise BadInputError(out, "--all-mappings trains every mapping: leave out --source and --target")
        mappings = expression_mappings(prepared, chosen)
        if not mappings:
            raise BadInputError(prepared.manifest_path, f"no neutral <-> expression pair in split {split!r}")
        folders = [out / mapping_folder(s, t) for s, t in mappings]
    elif config.source is None:
        raise BadInputError(out, "give --source (and --target, neutral by default), or --all-mappings")
    else:
        mappings, folders = [(config.source, config.target)], [out]
    fitted: dict[str, Any] = {}
    model = None
    for (source, target), folder in zip(mappings, folders):
        began = time.perf_counter()
        model = fit_mapping(config, prepared, chosen, source, target, ego, progress)
        seconds = round(time.perf_counter() - began, 3)
        model.save(folder, {"training": {"data": str(prepared.root), "split": split, "seconds": seconds}})
        fitted[f"{source} -> {target}"] = f"{model.fit_options['pairs']} pairs, {seconds} s, {folder}"
    return TrainResult(out, model, fitted)
