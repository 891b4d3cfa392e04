"""The one model interface: what evaluation, the CLI and users see of every method.

A :class:`FaceModel` maps one or several aligned crops of a person (a
``(B, N, C, H, W)`` float tensor in [0, 1]) to one crop: their neutral face
(``target_expression == "neutral"``, a *neutralizer*) or a target expression
(a *synthesizer*), any of its :attr:`~FaceModel.target_expressions`, at a
strength that 1 gives as trained. :meth:`FaceModel.to` moves it to a device. A
trained model is a directory holding ``config.json`` (family, sizes,
expressions, hyper-parameters) and ``weights.safetensors``; it loads with
:func:`load_model` without executing any code from the files.

What only some models can do is a small protocol each, checked with
``isinstance``: :class:`ConditionalModel` (set to another default expression),
:class:`WarpingModel` (a warp to paste at full resolution),
:class:`LatentModel` and :class:`SamplingModel` (a latent space, and a prior
on it), :class:`SubjectHeldOutModel` (the mean-face baseline's
leave-one-subject-out prediction) and :class:`Classifier` (expression
probabilities of crops).

How a family is trained lives in :mod:`facexpr.training` (a registered recipe
per family, :data:`facexpr.training.RECIPES`, which ``facexpr benchmark`` times);
closed-form families also offer ``fit(prepared, split="train")`` themselves.
"""

from __future__ import annotations

import abc
import json
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, Sequence, runtime_checkable

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from facexpr.data.records import normalize_expression
from facexpr.io import BadInputError, save_tensors_atomic, write_text_atomic

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"

#: family name -> model class; filled by :func:`register_model`.
MODEL_FAMILIES: dict[str, type["FaceModel"]] = {}


def register_model(cls: type["FaceModel"]) -> type["FaceModel"]:
    """Class decorator: make a model family loadable by :func:`load_model`."""
    MODEL_FAMILIES[cls.family] = cls
    return cls


def preset_fields(presets: dict[str, dict[str, Any]], preset: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """A config's fields from a named preset, with ``overrides`` on top (``None`` values keep the preset's);
    what every config's ``from_preset`` builds itself from.

    Raises:
        ValueError: an unknown preset.
    """
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(presets)}")
    return {**presets[preset], "preset": preset, **{k: v for k, v in overrides.items() if v is not None}}


def resize_to(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (..., C, H, W) crops to ``size`` x ``size`` (antialiased bilinear); unchanged when already there."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    flat = images.reshape(-1, *images.shape[-3:])
    out = F.interpolate(flat, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.clamp(0, 1).reshape(*images.shape[:-2], size, size)


def dial_strength(first: torch.Tensor, output: torch.Tensor, strength: float) -> torch.Tensor:
    """``first + strength * (output - first)`` clipped to [0, 1]: the strength of a family that cannot dial it
    itself, as a straight line from the first input photo (0) through the output (1); ``output`` itself at 1."""
    if strength == 1.0:
        return output
    return torch.lerp(first.to(output.dtype), output, float(strength)).clamp_(0.0, 1.0)


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
    #: False for families that produce their target at full strength only: ``predict`` rejects any strength but 1.
    dials_strength: ClassVar[bool] = True

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
        self._device = torch.device("cpu")

    @property
    def target_expressions(self) -> tuple[str, ...]:
        """Every expression :meth:`predict` can produce (its ``target``); only the default one for most families."""
        return (self.target_expression,)

    @property
    def task(self) -> str:
        """"neutralize" when the target is the neutral face, else "synthesize"."""
        return "neutralize" if self.target_expression == "neutral" else "synthesize"

    @property
    def name(self) -> str:
        """A short human-readable name for tables and reports."""
        sources = "+".join(self.source_expressions) if self.source_expressions else "any"
        return f"{self.family} ({sources}->{self.target_expression})"

    def check_request(self, target: str | None = None, strength: float = 1.0) -> str:
        """The expression ``predict(inputs, target, strength)`` produces, so that callers can check a request
        before loading any photo (``target`` None: :attr:`target_expression`; names are normalised, "smiling" is
        "happy").

        Raises:
            ValueError: (one line) an expression the model does not know, naming those it does, or a strength
                other than 1 for a family that cannot dial it.
        """
        chosen = self.target_expression if target is None else normalize_expression(target)
        if chosen not in self.target_expressions:
            raise ValueError(f"{self.name} cannot produce {target!r} (it knows: {', '.join(self.target_expressions)})")
        if strength != 1.0 and not self.dials_strength:
            raise ValueError(f"{self.name} produces {chosen} at full strength only, not at strength {strength:g}")
        return chosen

    @abc.abstractmethod
    def predict(self, inputs: torch.Tensor, target: str | None = None, strength: float = 1.0) -> torch.Tensor:
        """Map ``inputs`` (B, N, C, H, W) in [0, 1] on :attr:`device` to outputs (B, C, H, W) in [0, 1] there.

        ``target`` is one of :attr:`target_expressions` (None: :attr:`target_expression`).
        ``strength`` 1 produces it as trained and 0 leaves the input as it is;
        families that cannot dial it themselves go in a straight line from the
        first photo (:func:`dial_strength`), or accept only 1 (:attr:`dials_strength`).

        Raises:
            ValueError: a target or strength the model cannot produce (:meth:`check_request`), or crops of
                the wrong shape.
        """

    @property
    def device(self) -> torch.device:
        """Where the model's tensors live and :meth:`predict` expects its inputs (the CPU until :meth:`to`)."""
        return self._device

    def to(self, device: str | torch.device) -> Self:
        """Move the model's tensors and networks to ``device`` and return the model (moved in place, as
        ``torch.nn.Module.to`` does), so that :meth:`predict` runs on inputs on that device."""
        device = torch.device(device)
        self._move_tensors(device)
        self._device = device
        return self

    def _move_tensors(self, device: torch.device) -> None:
        """Move this family's tensors and networks to ``device`` (a family without any has nothing to move)."""

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
        return save_model_folder(directory, {**self.config(), **(extra or {})}, self.tensors())


def save_model_folder(directory: str | Path, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Path:
    """Write a model folder that loads without executing code: ``config.json`` and, when there are weights,
    ``weights.safetensors`` (each atomically). Every family's ``save`` ends here."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if tensors:
        save_tensors_atomic(directory / WEIGHTS_FILE, tensors)
    write_text_atomic(directory / CONFIG_FILE, json.dumps(config, indent=2))
    return directory


def network_tensors(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A network's weights as contiguous CPU tensors, ready for safetensors."""
    return {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}


@runtime_checkable
class ConditionalModel(Protocol):
    """A model that produces any of several expressions and can be set to produce another one by default, for
    what reads :attr:`FaceModel.target_expression` (evaluation items, output names of ``facexpr synthesize``)."""

    @property
    def target_expressions(self) -> tuple[str, ...]:
        """Every expression the model can produce."""

    def for_target(self, target: str) -> FaceModel:
        """The model producing ``target`` by default (ValueError, naming the known ones, for an unknown target)."""


@runtime_checkable
class WarpingModel(Protocol):
    """A model whose output is its input photo(s) warped plus a smooth correction, so that the change can be
    applied to the full-resolution photo instead of pasting a small crop (``--paste``)."""

    def warp_fields(
        self, inputs: torch.Tensor, target: str | None = None, strength: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For crops (B, N, C, S, S): the outputs (B, C, S, S) as :meth:`FaceModel.predict` gives them for
        ``target`` at ``strength``, each photo's sampling grid (B, N, S, S, 2, ``grid_sample`` coordinates) and
        the additive correction (B, C, S, S) applied after the warp."""


@runtime_checkable
class SubjectHeldOutModel(Protocol):
    """A model whose prediction for a person of a held-out set must not use that person (the mean-face
    baseline fitted on the set it is evaluated on): evaluation names each item's subject."""

    def predict_leaving_out(self, inputs: torch.Tensor, subjects: Sequence[tuple[str, str]]) -> torch.Tensor:
        """:meth:`FaceModel.predict` for ``inputs`` (B, N, C, H, W) of the people ``subjects`` ((source, subject)
        per item), using nothing learnt from an item's own person."""


@runtime_checkable
class LatentModel(Protocol):
    """A model with a latent space: crops encode to latent means and latents decode to crops (t-SNE maps,
    reconstructions, interpolations)."""

    size: int
    channels: int

    def encode(self, crops: torch.Tensor) -> torch.Tensor:
        """Latent means (B, D) of crops (B, C, H, W) in [0, 1] (resized to the model's size)."""

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Crops (B, C, S, S) in [0, 1] decoded from latents (B, D)."""


@runtime_checkable
class SamplingModel(LatentModel, Protocol):
    """A latent model trained with a prior N(0, I) on its latents, so that new faces can be drawn from it."""

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` new faces (n, C, S, S) in [0, 1] decoded from latents drawn from the prior."""


@runtime_checkable
class Classifier(Protocol):
    """Scores the expression of aligned crops: one probability per class.

    ``size`` and ``channels`` say how photos are aligned for it (crop side, 1 grey or 3 RGB).
    """

    size: int
    channels: int

    @property
    def classes(self) -> tuple[str, ...]:
        """The expressions it tells apart, in the order of :meth:`classify`'s columns."""

    def classify(self, crops: torch.Tensor) -> torch.Tensor:
        """Probabilities (B, K) of :attr:`classes`, each row summing to 1, for aligned crops (B, C, H, W) in [0, 1]."""


def read_model_config(path: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a saved model directory (what names its family), read as plain JSON.

    Raises:
        BadInputError: no config file, or an unreadable one.
    """
    path = Path(path)
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise BadInputError(path, f"not a facexpr model directory (no {CONFIG_FILE})")
    try:
        return json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise BadInputError(config_path, f"unreadable model config ({error})") from None


def read_model_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``weights.safetensors`` of a saved model directory (empty when it has none); no code execution.

    Raises:
        BadInputError: an unreadable weights file.
    """
    weights_path = Path(path) / WEIGHTS_FILE
    try:
        return load_file(str(weights_path)) if weights_path.is_file() else {}
    except Exception as error:  # safetensors raises its own error types for corrupt files
        raise BadInputError(weights_path, f"unreadable weights ({error})") from None


def load_model(path: str | Path) -> FaceModel:
    """Load a saved model directory (config.json + weights.safetensors); no pickle, no code execution.

    Raises:
        BadInputError: missing or unreadable files, or an unknown model family.
    """
    config = read_model_config(path)
    family = config.get("family")
    if family not in MODEL_FAMILIES:
        known = ", ".join(sorted(MODEL_FAMILIES)) or "none"
        raise BadInputError(Path(path) / CONFIG_FILE, f"unknown model family {family!r} (known: {known})")
    return MODEL_FAMILIES[family].from_saved(config, read_model_tensors(path))
