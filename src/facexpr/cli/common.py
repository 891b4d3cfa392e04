"""What every command shares: one-line errors instead of tracebacks, and progress bars."""

from __future__ import annotations

import functools
import warnings
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from facexpr.io import BadInputError

console = Console(stderr=True)

F = TypeVar("F", bound=Callable)


def friendly_errors(command: F) -> F:
    """Turn bad input (BadInputError, ValueError from option parsing) into ``error: ...`` and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except BadInputError as error:
            console.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int, str], None]]:
    """A rich progress bar exposed as a ``(done, total, item)`` callback."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[item]}", style="dim"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(description, total=None, item="")

        def update(done: int, total: int, item: str) -> None:
            progress.update(task, completed=done, total=total, item=item)

        yield update


class _Verbosity:
    """Whether ``facexpr --verbose`` was given (read by commands that configure libraries)."""

    verbose = False


def quiet_libraries(quiet: bool = True) -> None:
    """Keep the terminal to facexpr's own progress and results unless ``quiet`` is False (``--verbose``).

    Lightning's deprecation notices are Python warnings, ignored when quiet.
    Its banners, tips and model summary are logged when a Trainer is built,
    so training reads :func:`verbose` (``TrainOptions.verbose``) for those.
    """
    _Verbosity.verbose = not quiet
    if quiet:
        warnings.filterwarnings("ignore", module=r"(lightning|pytorch_lightning|lightning_utilities)(\..*)?$")


def verbose() -> bool:
    """True when ``facexpr --verbose`` asked for the libraries' own output too."""
    return _Verbosity.verbose
