"""Command-line options generated from config dataclasses: one declaration of a setting, not one per command.

Every field of a config dataclass becomes an option: ``--field-name`` (or
the flag in the field's ``metadata["flag"]``), its type from the annotation
(``bool`` gives ``--x/--no-x``), its help from the class docstring's
``Attributes:`` section, its default the dataclass's. A field whose type is
itself a dataclass contributes its own fields (``NeutralizerConfig.vae``).
Fields with ``metadata["cli"] = False`` are set by the program (e.g. the
crops' channel count). An option the user does not give is left to the
config: its default, or its preset's when the class has ``from_preset``.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape


@dataclasses.dataclass(frozen=True)
class ConfigOption:
    """One generated option: the parameter name, its flags, type, default and help."""

    name: str
    flags: tuple[str, ...]
    kind: type
    default: Any
    help: str


def attribute_help(cls: type) -> dict[str, str]:
    """Field name -> its description in the class docstring's ``Attributes:`` section (Google style).

    A line ``a, b, c: text`` documents several fields at once; indented lines continue the previous one.
    """
    doc = inspect.getdoc(cls) or ""
    section = re.split(r"^Attributes:\s*$", doc, maxsplit=1, flags=re.MULTILINE)
    if len(section) < 2:
        return {}
    helps: dict[str, str] = {}
    names: list[str] = []
    for line in section[1].splitlines():
        if line and not line.startswith(" "):  # the next section
            break
        match = re.match(r"^ {4}([\w, ]+):\s*(.*)$", line)
        if match:
            names = [n.strip() for n in match.group(1).split(",")]
            for name in names:
                helps[name] = match.group(2)
        elif line.strip() and names:
            for name in names:
                helps[name] += " " + line.strip()
    return helps


def _plain_type(annotation: Any) -> tuple[type, bool]:
    """The option type for an annotation and whether None is allowed (``int | None`` -> (int, True));
    unions of several types (``int | str``) are read as text."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        kind = kinds[0] if len(kinds) == 1 else str
        return (kind if kind in (int, float, str, bool, Path) else str), type(None) in args
    if typing.get_origin(annotation) is typing.Literal:
        return str, False
    return (annotation if annotation in (int, float, str, bool, Path) else str), False


def config_options(classes: Mapping[str, type]) -> list[ConfigOption]:
    """The options of several config dataclasses (argument name -> class), nested dataclasses flattened.

    Raises:
        ValueError: two fields would give the same option (a registration error, caught by the tests).
    """
    options: dict[str, ConfigOption] = {}

    def visit(cls: type) -> None:
        hints = typing.get_type_hints(cls)
        helps = attribute_help(cls)
        for field in dataclasses.fields(cls):
            if not field.metadata.get("cli", True):
                continue
            if dataclasses.is_dataclass(hints[field.name]):
                visit(hints[field.name])
                continue
            kind, _ = _plain_type(hints[field.name])
            flag = field.metadata.get("flag", "--" + field.name.replace("_", "-"))
            flags = (f"{flag}/--no-{flag[2:]}",) if kind is bool else (flag,)
            if field.name in options:
                raise ValueError(f"two config fields are named {field.name!r} ({cls.__name__} and another)")
            default = field.default if field.default is not dataclasses.MISSING else None
            options[field.name] = ConfigOption(field.name, flags, kind, default, helps.get(field.name, ""))

    for cls in classes.values():
        visit(cls)
    return list(options.values())


def build_config(cls: type, values: Mapping[str, Any]) -> Any:
    """An instance of ``cls`` from option values (None: not given, the config decides), nested ones included.

    Raises:
        ValueError: a value the config rejects.
    """
    hints = typing.get_type_hints(cls)
    given: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[field.name]):
            given[field.name] = build_config(hints[field.name], values)
        elif values.get(field.name) is not None:
            given[field.name] = values[field.name]
    return cls.from_preset(**given) if hasattr(cls, "from_preset") else cls(**given)


def command_from_configs(
    function: Callable[..., None], classes: Mapping[str, type], fixed: list[inspect.Parameter],
) -> Callable[..., None]:
    """A typer command: ``fixed`` parameters (e.g. ``--data``, ``--out``) then one option per config field.

    The command calls ``function(**fixed_values, **{argument: config})`` with each
    config built by :func:`build_config` from the options given.
    """
    options = config_options(classes)
    parameters = list(fixed) + [
        inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, annotation=typing.Optional[option.kind],
                          default=typer.Option(None, *option.flags, help=_help(option), show_default=False))
        for option in options
    ]
    fixed_names = [p.name for p in fixed]

    def command(**values: Any) -> None:
        configs = {argument: build_config(cls, values) for argument, cls in classes.items()}
        function(**{name: values[name] for name in fixed_names}, **configs)

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__doc__ = function.__doc__
    command.__name__ = function.__name__
    return command


def plain_text(docstring: str) -> str:
    """Docstring text as terminal help: reST roles and literals unwrapped, whitespace collapsed."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", docstring)
    return " ".join(text.replace("``", "").split())


def _help(option: ConfigOption) -> str:
    """The option's help with its default (the dataclass's; a preset may change it), escaped for rich."""
    default = "" if option.default is None else f" [default: {option.default}]"
    return escape(f"{plain_text(option.help)}{default}".strip())
