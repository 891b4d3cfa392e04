"""Local linear models: every output pixel a linear function of its receptive field, plus a bias.

:class:`LocalLinearModel` holds the weights and does everything but fitting:
prediction, ego refinement, saving (with the interpretability images). Its
registered subclasses differ only in how the per-pixel weights are fitted:
:class:`MaskedRegression` (ridge, in closed form, for all pixels at once) here,
LASSO and OMP in :mod:`facexpr.models.masked_regression.baselines`.

Colour (``colour``):

* ``"tuple"`` (the paper's colour-tuple model): one weight set per pixel,
  shared by the three channels and fitted on all of them (each channel of each
  training image is one sample); also the only mode for grey images.
* ``"channel"``: one weight set per pixel and channel, fitted on that channel.

Borders: taps that fall outside the crop read the nearest border pixel
(replicate padding), and every pixel has its own weights, so border pixels
are fitted like any other.

Weights are saved as ``weights`` (G, H*W, K+1) float32 (G = 1 for ``tuple``,
3 for ``channel``; K = r * r taps, the bias last) and the ego blending map as
``alpha`` (H, W): 655 KB per channel set for a 128 x 128 model with r = 3.
Saving also writes :data:`INTERPRETABILITY_IMAGES` beside them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator, Sequence

import numpy as np
import torch

from facexpr.data.pairing import Pair, PairingResult, PreparedDataset, expression_pairs
from facexpr.data.records import normalize_expression
from facexpr.io import BadInputError, write_image_atomic
from facexpr.models.base import FaceModel, dial_strength, register_model
from facexpr.models.masked_regression.closed_form import RidgeAccumulator
from facexpr.models.masked_regression.ego import EgoOptions, ego_alpha, weight_norm
from facexpr.models.masked_regression.receptive import (
    ReceptiveField,
    apply_local_linear,
)

COLOUR_MODES = ("tuple", "channel")
#: The default ridge penalty (against the error summed over pairs; see closed_form).
DEFAULT_LAMBDA = 0.3
#: What the benchmark and ``fit(prepared)`` learn when no mapping is named: neutralization of smiles.
DEFAULT_SOURCE, DEFAULT_TARGET = "happy", "neutral"
#: PNGs written beside the weights by :meth:`LocalLinearModel.save`.
INTERPRETABILITY_IMAGES = ("bias.png", "weight_norm.png", "alpha.png")
#: Pixels (images x channels x height x width) mapped at a time: about 1 MB of float32, so the
#: r * r multiply-adds of a chunk run in cache.
APPLY_CHUNK_ELEMENTS = 1 << 18

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
Progress = Callable[[int, int, str], None]


def as_samples(images: torch.Tensor, colour: str) -> torch.Tensor:
    """(N, C, H, W) images -> (S, G, H, W) regression samples: (N*C, 1, H, W) for ``tuple``, as is for ``channel``."""
    if colour not in COLOUR_MODES:
        raise ValueError(f"colour must be one of {', '.join(COLOUR_MODES)}, got {colour!r}")
    if colour == "tuple":
        return images.reshape(-1, 1, *images.shape[-2:])
    return images


def colour_mode(channels: int, colour: str) -> str:
    """The colour mode actually used: grey images (one channel) always use ``tuple``."""
    if colour not in COLOUR_MODES:
        raise ValueError(f"colour must be one of {', '.join(COLOUR_MODES)}, got {colour!r}")
    return "tuple" if channels == 1 else colour


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    """A (G, H, W) image in [0, 1] as uint8 (H, W) for G = 1, (H, W, G) otherwise."""
    array = (image.clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)


class LocalLinearModel(FaceModel):
    """A fitted local linear map (one of its registered subclasses), with optional ego refinement.

    Args:
        weights: (G, K + 1, H, W) per-pixel tap weights and bias (last).
        field: the receptive field the weights belong to.
        channels: image channels (1 or 3); G must be 1 or ``channels``.
        colour: ``"tuple"`` (G = 1) or ``"channel"`` (G = channels).
        source, target: the expressions it maps from and to.
        ego: refinement options (resolved for the crop size).
        alpha: the ego blending map (H, W); computed from the weights when not given.
        fit_options: the fitting hyper-parameters and training summary, kept in the config.
    """

    family: ClassVar[str]

    def __init__(
        self,
        weights: torch.Tensor,
        field: ReceptiveField,
        channels: int,
        colour: str,
        source: str,
        target: str,
        ego: EgoOptions | None = None,
        alpha: torch.Tensor | None = None,
        fit_options: dict[str, Any] | None = None,
    ):
        groups, width_taps, height, width = weights.shape
        if height != width:
            raise ValueError(f"local linear models work on square crops, got {height}x{width}")
        if width_taps != field.taps + 1:
            raise ValueError(f"weights have {width_taps - 1} taps, r={field.r} needs {field.taps}")
        if colour not in COLOUR_MODES or groups != (1 if colour == "tuple" else channels):
            raise ValueError(f"{groups} weight set(s) do not fit colour={colour!r} with {channels} channel(s)")
        super().__init__(height, channels, (normalize_expression(source),), normalize_expression(target), 1)
        self.weights = weights.float().contiguous()
        self.field = field
        self.colour = colour
        self.ego = (ego or EgoOptions()).resolved(height)
        self.alpha = ego_alpha(self.weight_norm(), self.ego) if alpha is None else alpha.float()
        if tuple(self.alpha.shape) != (height, width):
            raise ValueError(f"the alpha map is {tuple(self.alpha.shape)}, the weights {height}x{width}")
        self.fit_options = dict(fit_options or {})

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, target: str | None = None, strength: float = 1.0) -> torch.Tensor:
        """Map the first crop of every item; with ego enabled, blend with the input through alpha.

        ``strength`` goes in a straight line from the input (0) to the mapped
        crop (1): up to the clipping to [0, 1], that is itself a local linear
        map (``(1 - s) x + s (W x + b)``), so the dial is as exact as the model.
        Works through the batch a few images at a time so each chunk's
        multiply-adds stay in cache.
        """
        self.check_request(target, strength)
        images = inputs[:, 0].float()
        if tuple(images.shape[1:]) != (self.channels, self.size, self.size):
            raise ValueError(
                f"{self.name} expects {self.channels}x{self.size}x{self.size} crops, got {tuple(images.shape[1:])}"
            )
        outputs = torch.empty_like(images)
        step = max(1, APPLY_CHUNK_ELEMENTS // images[0].numel())
        for start in range(0, images.shape[0], step):
            chunk = images[start:start + step]
            mapped = apply_local_linear(chunk, self.weights, self.field).clamp_(0.0, 1.0)
            if self.ego.enabled:
                torch.lerp(chunk, mapped, self.alpha, out=outputs[start:start + step])
            else:
                outputs[start:start + step] = mapped
        return dial_strength(images, outputs, strength)

    def bias_image(self) -> torch.Tensor:
        """The bias of every pixel as a (G, H, W) image: what the model outputs for a black input."""
        return self.weights[:, -1]

    def weight_norm(self) -> torch.Tensor:
        """Per-pixel L1 norm of the tap weights (H, W): how much each output pixel depends on the input."""
        return weight_norm(self.weights)

    def config(self) -> dict[str, Any]:
        """Base config plus receptive field, colour mode, border handling, ego and fit options."""
        return {
            **super().config(),
            "r": self.field.r,
            "dilation": self.field.dilation,
            "colour": self.colour,
            "border": "replicate",
            "ego": self.ego.to_config(),
            "fit": self.fit_options,
        }

    def tensors(self) -> dict[str, torch.Tensor]:
        """``weights`` (G, H*W, K+1) float32 and ``alpha`` (H, W)."""
        groups, columns = self.weights.shape[:2]
        return {"weights": self.weights.reshape(groups, columns, -1).transpose(1, 2), "alpha": self.alpha}

    def _move_tensors(self, device: torch.device) -> None:
        """Move the per-pixel weights and the ego blending map."""
        self.weights, self.alpha = self.weights.to(device), self.alpha.to(device)

    def save(self, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Save weights and config, and write the interpretability images beside them.

        ``bias.png``: the bias image clipped to [0, 1] (grey for the colour-tuple
        model); ``weight_norm.png``: the per-pixel L1 weight norm divided by its
        maximum (recorded in the config as ``weight_norm_max``); ``alpha.png``:
        the ego blending map (white = the regression's output, black = the input).
        """
        norm = self.weight_norm()
        peak = float(norm.max())
        directory = super().save(directory, {"weight_norm_max": peak, **(extra or {})})
        bias, scaled, alpha = INTERPRETABILITY_IMAGES
        write_image_atomic(directory / bias, _to_uint8(self.bias_image()))
        write_image_atomic(directory / scaled, _to_uint8((norm / peak if peak > 0 else norm)[None]))
        write_image_atomic(directory / alpha, _to_uint8(self.alpha[None]))
        return directory

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> "LocalLinearModel":
        """Rebuild from the config and the saved weights and alpha map.

        Raises:
            BadInputError: the tensors or config do not describe a model of this family.
        """
        size = config.get("size")
        try:
            saved = tensors["weights"]
            weights = saved.transpose(1, 2).reshape(saved.shape[0], saved.shape[2], size, size)
            return cls(
                weights,
                ReceptiveField(config["r"], config["dilation"]),
                config["channels"],
                config["colour"],
                config["source_expressions"][0],
                config["target_expression"],
                EgoOptions.from_config(config["ego"]),
                tensors["alpha"],
                config.get("fit"),
            )
        except (KeyError, IndexError, RuntimeError, TypeError, ValueError) as error:
            raise BadInputError(config.get("family", "?"), f"saved model does not match its config ({error})") from None


@register_model
class MaskedRegression(LocalLinearModel):
    """Masked linear regression (Khan et al., IJCV): per-pixel ridge over the receptive field, in closed form.

    Fit with :meth:`fit` (a prepared dataset) or :meth:`fit_batches` (tensors).
    See :mod:`facexpr.models.masked_regression.closed_form` for the objective
    (lambda against the error summed over pairs, unregularised bias) and the solver.
    """

    family = "masked-regression"

    @classmethod
    def fit_batches(
        cls,
        batches: Batches,
        source: str = DEFAULT_SOURCE,
        target: str = DEFAULT_TARGET,
        field: ReceptiveField = ReceptiveField(),
        lam: float = DEFAULT_LAMBDA,
        colour: str = "tuple",
        ego: EgoOptions | None = None,
    ) -> "MaskedRegression":
        """Fit on (inputs, targets) batches of (n, C, H, W) crops in [0, 1], streamed: memory does not grow with N.

        Raises:
            ValueError: no batch, mismatched shapes, non-positive ``lam``, unknown ``colour``.
        """
        if not lam > 0:
            raise ValueError(f"lambda must be positive, got {lam}")
        if colour not in COLOUR_MODES:
            raise ValueError(f"colour must be one of {', '.join(COLOUR_MODES)}, got {colour!r}")
        accumulator: RidgeAccumulator | None = None
        channels, mode = 0, colour
        for inputs, targets in batches:
            if inputs.shape != targets.shape:
                raise ValueError(f"inputs {tuple(inputs.shape)} and targets {tuple(targets.shape)} differ in shape")
            if accumulator is None:
                channels = inputs.shape[1]
                mode = colour_mode(channels, colour)
                per_pair = channels if mode == "tuple" else 1
                accumulator = RidgeAccumulator(field, 1 if mode == "tuple" else channels, *inputs.shape[2:], per_pair)
            accumulator.add(as_samples(inputs, mode), as_samples(targets, mode))
        if accumulator is None:
            raise ValueError("no training pair to fit on")
        weights = accumulator.solve(lam)
        options = {"lambda": lam, "pairs": int(round(accumulator.pairs))}
        return cls(weights, field, channels, mode, source, target, ego, fit_options=options)

    @classmethod
    def fit(
        cls,
        prepared: PreparedDataset,
        split: str | None = "train",
        source: str = DEFAULT_SOURCE,
        target: str = DEFAULT_TARGET,
        field: ReceptiveField = ReceptiveField(),
        lam: float = DEFAULT_LAMBDA,
        colour: str = "tuple",
        ego: EgoOptions | None = None,
        progress: Progress | None = None,
    ) -> "MaskedRegression":
        """Fit ``source -> target`` on every pair of a prepared dataset's split (see :func:`training_pairs`).

        With the defaults this is the ``fit(prepared, split)`` every fittable
        family offers: smiling -> neutral with r = 3.

        Raises:
            BadInputError: the split yields no pair, or an option is invalid.
        """
        return fit_prepared(cls.fit_batches, prepared, split, source, target, progress,
                            field=field, lam=lam, colour=colour, ego=ego)


def fit_prepared(
    fit_batches: Callable[..., FaceModel],
    prepared: PreparedDataset,
    split: str | None,
    source: str,
    target: str,
    progress: Progress | None,
    **options: Any,
) -> FaceModel:
    """Call a family's ``fit_batches`` on the ``source -> target`` pairs of a prepared split, streamed.

    Raises:
        BadInputError: no pair (see :func:`training_pairs`), an unreadable crop, or an
            invalid option (the ``ValueError`` of ``fit_batches``, as one line).
    """
    pairs = training_pairs(prepared, source, target, split)
    try:
        return fit_batches(pair_batches(prepared, pairs.pairs, progress=progress), source, target, **options)
    except BadInputError:
        raise
    except ValueError as error:
        raise BadInputError(prepared.root, str(error)) from None

def training_pairs(prepared: PreparedDataset, source: str, target: str, split: str | None = "train") -> PairingResult:
    """Every (source crop, target crop) pair of one subject in ``split`` (None: all splits).

    ``source -> neutral`` pairs each ``source`` crop with the subject's neutral
    reference; ``neutral -> target`` each neutral crop with the subject's
    ``target`` reference (:func:`facexpr.data.pairing.expression_pairs`).

    Raises:
        BadInputError: no pair (naming the splits and expressions present).
    """
    source, target = normalize_expression(source), normalize_expression(target)
    if source == target:
        raise BadInputError(prepared.root, f"source and target expression are both {source!r}")
    result = expression_pairs(prepared.select(split), (source,), target)
    if not result.pairs:
        present = sorted({r.expression for r in prepared.select(split)})
        where = "the dataset" if split is None else f"split {split!r}"
        raise BadInputError(
            prepared.manifest_path,
            f"no {source} -> {target} pair in {where} (expressions there: {', '.join(present) or 'none'})",
        )
    return result


def pair_batches(
    prepared: PreparedDataset, pairs: Sequence[Pair], batch_size: int = 64, progress: Progress | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Load pairs as (inputs, targets) batches of (n, C, H, W) float32, reporting ``(done, total, item)``."""
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        inputs = torch.stack([prepared.load(source) for source, _ in chunk])
        targets = torch.stack([prepared.load(target) for _, target in chunk])
        if progress is not None:
            progress(start + len(chunk), len(pairs), chunk[-1][0].path)
        yield inputs, targets


def expression_mappings(prepared: PreparedDataset, split: str | None = "train") -> list[tuple[str, str]]:
    """Every ``neutral -> expression`` and ``expression -> neutral`` mapping with at least one pair in ``split``.

    For a dataset with the six basic expressions these are the paper's 12 mappings.
    """
    records = prepared.select(split)
    mappings = []
    for expression in sorted({r.expression for r in records} - {"neutral"}):
        for source, target in ((expression, "neutral"), ("neutral", expression)):
            if expression_pairs(records, (source,), target).pairs:
                mappings.append((source, target))
    return mappings

