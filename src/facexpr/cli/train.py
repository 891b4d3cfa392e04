"""``facexpr train METHOD``: one command per registered method, its options generated from the method's configs.

``facexpr train METHOD --data P [--data P2] --out DIR [--split S] [options]``:
the options are the fields of the config dataclasses the method registered
(:data:`facexpr.training.METHODS`), so adding a method adds its command here
without command-line code.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any, List

import typer
from rich.table import Table
from typer.core import TyperGroup

from facexpr.cli.common import console, friendly_errors, progress_bar, verbose
from facexpr.cli.from_config import command_from_configs, plain_text
from facexpr.io import BadInputError

DATA = typer.Option(..., "--data", "-d", help="A prepared dataset folder (facexpr prepare); repeat to mix datasets.")
OUT = typer.Option(..., "--out", "-o", help="Model folder; rerun the same command to resume an interrupted run.")
SPLIT = typer.Option("train", "--split", help="Split to train on (validation uses each folder's 'val').")

FIXED = [
    inspect.Parameter("data", inspect.Parameter.KEYWORD_ONLY, annotation=List[Path], default=DATA),
    inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, annotation=Path, default=OUT),
    inspect.Parameter("split", inspect.Parameter.KEYWORD_ONLY, annotation=str, default=SPLIT),
]


def report(result: Any) -> None:
    """Print a run's summary (main process only) and how to evaluate the model."""
    if result.summary is None:
        return
    s = result.summary
    if "epochs" in s:  # a Lightning run
        monitor = s.get("monitor", "val_mse")
        table = Table("epochs", f"best {monitor}", "best epoch", "stopped", "seconds")
        table.add_row(str(s["epochs"]), str(s.get(f"best_{monitor}")), str(s["best_epoch"]), s["stop_reason"],
                      str(s["seconds"]))
    else:  # a closed-form fit: its scalar results, one row each
        table = Table("", "")
        for key, value in s.items():
            if not isinstance(value, (list, dict)):
                table.add_row(key, str(value))
            elif isinstance(value, dict) and all(not isinstance(v, (list, dict)) for v in value.values()):
                table.add_row(key, ", ".join(f"{k}: {v:g}" if isinstance(v, float) else f"{k}: {v}"
                                             for k, v in value.items()))
    console.print(table)
    for reason in s.get("skipped", []):
        console.print(f"[yellow]skipped:[/yellow] {reason}", highlight=False, soft_wrap=True)
    from facexpr.models import FaceModel
    from facexpr.models.emotion.comparator import COMPARATOR_FAMILY

    if getattr(result.model, "family", None) == COMPARATOR_FAMILY:  # it guides a Fader, it classifies no crop
        console.print(f"[green]model:[/green] {result.out_dir} (facexpr train fader --siamese {result.out_dir} ...)")
        return
    use = "evaluate" if result.model is None or isinstance(result.model, FaceModel) else "classify"
    console.print(f"[green]model:[/green] {result.out_dir} (facexpr {use} --model {result.out_dir} ...)")


def method_command(name: str) -> Any:
    """The typer command training the registered method ``name``."""
    from facexpr.training import METHODS

    method = METHODS[name]

    def run(data: list[Path], out: Path, split: str, **configs: Any) -> None:
        configs = {argument: _with_verbosity(config) for argument, config in configs.items()}
        if "progress" not in inspect.signature(method.train).parameters:
            report(method.train(data=data, out=out, split=split, **configs))
            return
        with progress_bar(name) as progress:
            result = method.train(data=data, out=out, split=split, progress=progress, **configs)
        report(result)

    run.__doc__ = plain_text(method.help)

    def build_errors(**values: Any) -> None:
        try:
            generated(**values)
        except ValueError as error:  # a value a config rejects
            raise BadInputError(values["out"], str(error)) from None

    generated = command_from_configs(run, method.configs, FIXED)
    build_errors.__signature__ = generated.__signature__  # type: ignore[attr-defined]
    build_errors.__doc__ = plain_text(method.help)
    return friendly_errors(build_errors)


def _with_verbosity(config: Any) -> Any:
    """The config with ``verbose`` set from ``facexpr --verbose`` when it has that field."""
    if dataclasses.is_dataclass(config) and any(f.name == "verbose" for f in dataclasses.fields(config)):
        return dataclasses.replace(config, verbose=verbose())
    return config


def _method_names() -> list[str]:
    """The registered methods (importing the training package registers them)."""
    from facexpr.training import METHODS

    return sorted(METHODS)


class MethodGroup(TyperGroup):
    """``facexpr train``: its own commands plus one per registered method, built only when ``train`` runs
    (the training package imports Lightning, which other commands do not need)."""

    def list_commands(self, ctx: Any) -> list[str]:
        """Every subcommand name."""
        return sorted(set(super().list_commands(ctx)) | set(_method_names()))

    def get_command(self, ctx: Any, name: str) -> Any:
        """A declared subcommand, else the registered method's generated command."""
        command = super().get_command(ctx, name)
        if command is not None or name not in _method_names():
            return command
        single = typer.Typer()
        single.command(name)(method_command(name))
        return typer.main.get_command(single)
