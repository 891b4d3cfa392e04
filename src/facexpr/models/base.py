"""The one model interface: what evaluation, the CLI and users see of every method.

A :class:`FaceModel` maps one or several aligned crops of a person (a
``(B, N, C, H, W)`` float tensor in [0, 1]) to one crop: their neutral face
(``target_expression == "neutral"``, a *neutralizer*) or a target expression
(a *synthesizer*). A trained model is a directory holding ``config.json``
(family, sizes, expressions, hyper-parameters) and ``weights.safetensors``; it
loads with :func:`load_model` without executing any code from the files.

How a family is trained lives in :mod:`facexpr.training` (a registered recipe
per family, :data:`facexpr.training.RECIPES`, which ``facexpr benchmark`` times);
closed-form families also offer ``fit(prepared, split="train")`` themselves.
"""

from __future__ import annotations

import abc
import json
from pathlib import Path
from typing import Any, ClassVar, Protocol, Sequence, runtime_checkable

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from facexpr.io import BadInputError, save_tensors_atomic, write_text_atomic

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"

#: family name -> model class; filled by :func:`register_model`.
MODEL_FAMILIES: dict[str, type["FaceModel"]] = {}


def register_model(cls: type["FaceModel"]) -> type["FaceModel"]:
    """Class decorator: make a model family loadable by :func:`load_model`."""
    MODEL_FAMILIES[cls.family] = cls
    return cls


def resize_to(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (..., C, H, W) crops to ``size`` x ``size`` (antialiased bilinear); unchanged when already there."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    flat = images.reshape(-1, *images.shape[-3:])
    out = F.interpolate(flat, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.clamp(0, 1).reshape(*images.shape[:-2], size, size)


class FaceModel(abc.ABC):
    """An expression model on aligned square crops.

    Attributes:
        size: crop side in pixels the model works at.
        channels: 3 (RGB) or 1 (grey).
        source_expressions: expressions it takes as input (None: any non-target).
        target_expression: what it produces ("neutral" for neutralizers).
        max_inputs: how many photos of one person it uses together (1 for single-image models).
    """

    family: ClassVar[str]

    def __init__(
        self,
        size: int,
        channels: int = 3,
        source_expressions: Sequence[str] | None = None,
        target_expression: str = "neutral",
        max_inputs: int = 1,
    ):
        self.size = int(size)
        self.channels = int(channels)
        self.source_expressions = tuple(source_expressions) if source_expressions else None
        self.target_expression = target_expression
        self.max_inputs = int(max_inputs)

    @property
    def task(self) -> str:
        """"neutralize" when the target is the neutral face, else "synthesize"."""
        return "neutralize" if self.target_expression == "neutral" else "synthesize"

    @property
    def name(self) -> str:
        """A short human-readable name for tables and reports."""
        sources = "+".join(self.source_expressions) if self.source_expressions else "any"
        return f"{self.family} ({sources}->{self.target_expression})"

    @abc.abstractmethod
    def predict(self, inputs: torch.Tensor, subjects: Sequence[tuple[str, str]] | None = None) -> torch.Tensor:
        """Map ``inputs`` (B, N, C, H, W) in [0, 1] to outputs (B, C, H, W) in [0, 1].

        ``subjects`` names each item's (source, subject); only baselines that
        must leave the subject out (mean-neutral on a held-out set) look at it.
        """

    def config(self) -> dict[str, Any]:
        """JSON-serialisable description; subclasses add their hyper-parameters."""
        return {
            "family": self.family,
            "size": self.size,
            "channels": self.channels,
            "source_expressions": list(self.source_expressions) if self.source_expressions else None,
            "target_expression": self.target_expression,
            "max_inputs": self.max_inputs,
        }

    def tensors(self) -> dict[str, torch.Tensor]:
        """The weights to save (name -> tensor); empty for models without weights."""
        return {}

    @classmethod
    @abc.abstractmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> "FaceModel":
        """Rebuild a model from its config and saved tensors (inverse of :meth:`save`)."""

    def save(self, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write ``config.json`` (plus ``extra``, e.g. a training summary) and ``weights.safetensors``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = self.tensors()
        if tensors:
            save_tensors_atomic(directory / WEIGHTS_FILE, tensors)
        write_text_atomic(directory / CONFIG_FILE, json.dumps({**self.config(), **(extra or {})}, indent=2))
        return directory


@runtime_checkable
class ConditionalModel(Protocol):
    """A model that produces any of several expressions, at a strength that dials it (0: unchanged input shape)."""

    @property
    def target_expressions(self) -> tuple[str, ...]:
        """Every expression the model can produce."""

    def for_target(self, target: str, strength: float = 1.0) -> FaceModel:
        """The model set to produce ``target`` at ``strength`` (ValueError for an unknown target)."""


@runtime_checkable
class WarpingModel(Protocol):
    """A model whose output is its input photo(s) warped plus a smooth correction, so that the change can be
    applied to the full-resolution photo instead of pasting a small crop (``--paste``)."""

    def warp_fields(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For crops (B, N, C, S, S): the outputs (B, C, S, S) as :meth:`FaceModel.predict` gives them, each
        photo's sampling grid (B, N, S, S, 2, ``grid_sample`` coordinates) and the additive correction
        (B, C, S, S) applied after the warp."""


def load_model(path: str | Path) -> FaceModel:
    """Load a saved model directory (config.json + weights.safetensors); no pickle, no code execution.

    Raises:
        BadInputError: missing or unreadable files, or an unknown model family.
    """
    path = Path(path)
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise BadInputError(path, f"not a facexpr model directory (no {CONFIG_FILE})")
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise BadInputError(config_path, f"unreadable model config ({error})") from None
    family = config.get("family")
    if family not in MODEL_FAMILIES:
        known = ", ".join(sorted(MODEL_FAMILIES)) or "none"
        raise BadInputError(config_path, f"unknown model family {family!r} (known: {known})")
    weights_path = path / WEIGHTS_FILE
    try:
        tensors = load_file(str(weights_path)) if weights_path.is_file() else {}
    except Exception as error:  # safetensors raises its own error types for corrupt files
        raise BadInputError(weights_path, f"unreadable weights ({error})") from None
    return MODEL_FAMILIES[family].from_saved(config, tensors)
