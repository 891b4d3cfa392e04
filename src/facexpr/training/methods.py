"""The registry of trainable methods: what ``facexpr train METHOD`` offers, with no command-line code per method.

A method registers its training function with the config dataclasses it
takes (argument name -> class). ``facexpr train METHOD --data P [--data P2]
--out DIR [options]`` is generated from them: every field of every config is
an option (see :mod:`facexpr.cli.from_config`). Adding a method means a
config dataclass, a network, a training function, and one
:func:`register_method`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TrainableMethod:
    """A registered method.

    Attributes:
        name: the ``facexpr train`` subcommand.
        configs: argument name -> config dataclass, each built from the command line.
        train: ``train(data, out, split, **configs)``: ``data`` a list of prepared
            folders, ``out`` the model folder; returns a result with ``out_dir``
            and ``summary``.
    """

    name: str
    configs: Mapping[str, type]
    train: Callable[..., Any]

    @property
    def help(self) -> str:
        """The first paragraph of the training function's docstring."""
        return (self.train.__doc__ or self.name).strip().split("\n\n")[0]


#: method name -> its registration; filled by :func:`register_method`.
METHODS: dict[str, TrainableMethod] = {}


def register_method(name: str, **configs: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: ``train(data, out, split, **configs)`` trains method ``name`` with those config dataclasses."""

    def register(train: Callable[..., Any]) -> Callable[..., Any]:
        METHODS[name] = TrainableMethod(name, dict(configs), train)
        return train

    return register
