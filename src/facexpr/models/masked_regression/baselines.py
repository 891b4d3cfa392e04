"""The regression baselines of Khan et al., behind the same :class:`FaceModel` interface as masked regression.

* :class:`MaskedLasso` (``masked-lasso``, l1) and :class:`MaskedOMP`
  (``masked-omp``, l0): the same receptive fields as masked regression, each
  pixel's weights fitted by scikit-learn (coordinate-descent LASSO, orthogonal
  matching pursuit) with an unregularised bias. scikit-learn has no batched
  per-pixel solver, so these loop over pixels (about 0.3 ms per pixel for
  LASSO and 0.6 ms for OMP with ~60 pairs): fine for comparisons, seconds to a
  minute per 128 x 128 mapping. They keep all training crops in memory. As
  :class:`LocalLinearModel` subclasses they have ego refinement and the
  interpretability images too.
* :class:`GlobalRidge` (``global-ridge``, l2): every output pixel a linear
  function of *every* input pixel, ``y = W x + b`` with a D x D matrix ``W``
  (D = C * H * W, 49,152 at 128 x 128 RGB), never formed: with N training pairs
  (N << D) the ridge solution is ``W = Yc^T (Xc Xc^T + lambda I)^-1 Xc`` through
  the N x N dual, and the model keeps the centred training inputs ``Xc`` and the
  dual coefficients ``A = (Xc Xc^T + lambda I)^-1 Yc`` (two N x D arrays):
  ``y = mean_y + (x - mean_x) Xc^T A``.

Regularisation follows masked regression's convention: the penalty is
weighed against the error summed over training pairs (colour-tuple errors
averaged over the channels), so its best value does not depend on N.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, orthogonal_mp_gram

from facexpr.data.pairing import PreparedDataset
from facexpr.data.records import normalize_expression
from facexpr.io import BadInputError
from facexpr.models.base import FaceModel, dial_strength, register_model
from facexpr.models.masked_regression.ego import EgoOptions
from facexpr.models.masked_regression.model import (
    DEFAULT_SOURCE,
    DEFAULT_TARGET,
    Batches,
    LocalLinearModel,
    Progress,
    as_samples,
    colour_mode,
    fit_prepared,
)
from facexpr.models.masked_regression.receptive import ReceptiveField

#: Default LASSO penalty (pair-summed error, see the module docstring).
DEFAULT_L1 = 0.01
#: Default number of taps OMP may use per pixel.
DEFAULT_NONZERO = 3
#: Default global ridge penalty (pair-summed error).
DEFAULT_GLOBAL_LAMBDA = 10.0
#: Pixel designs (pixels x samples x taps, float64) built at a time by the per-pixel baselines.
DESIGN_BLOCK_ELEMENTS = 1 << 22

#: A per-pixel solver: (centred design (S, K) Fortran-ordered, centred response (S,), pairs) -> weights (K,).
PixelSolver = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def _collect(batches: Batches) -> tuple[torch.Tensor, torch.Tensor]:
    """All (inputs, targets) batches as two (N, C, H, W) tensors.

    Raises:
        ValueError: no batch, or inputs and targets of different shapes.
    """
    inputs, targets = [], []
    for x, y in batches:
        if x.shape != y.shape:
            raise ValueError(f"inputs {tuple(x.shape)} and targets {tuple(y.shape)} differ in shape")
        inputs.append(x.float())
        targets.append(y.float())
    if not inputs:
        raise ValueError("no training pair to fit on")
    return torch.cat(inputs), torch.cat(targets)


def fit_per_pixel(
    inputs: torch.Tensor, targets: torch.Tensor, field: ReceptiveField, colour: str, solver: PixelSolver
) -> tuple[torch.Tensor, str, int]:
    """Fit every pixel's receptive-field weights with ``solver`` on centred data; the bias follows from the means.

    Returns the (G, K + 1, H, W) weights, the colour mode used and the number
    of pixels whose solver warned that it had not converged.
    """
    pairs, channels, height, width = inputs.shape
    mode = colour_mode(channels, colour)
    x, y = as_samples(inputs, mode).double(), as_samples(targets, mode).double()
    padded = field.padded(x)
    samples, groups, taps = x.shape[0], x.shape[1], field.taps
    weights = torch.zeros((groups, taps + 1, height, width), dtype=torch.float64)
    rows_per_block = max(1, DESIGN_BLOCK_ELEMENTS // (samples * taps * width))
    unconverged = 0
    for group in range(groups):
        for top in range(0, height, rows_per_block):
            rows = slice(top, min(height, top + rows_per_block))
            taps_of = [field.window(padded[:, group], o, height, width)[:, rows] for o in field.offsets]
            design = torch.stack(taps_of, -1).permute(1, 2, 0, 3).reshape(-1, samples, taps)
            response = y[:, group, rows].permute(1, 2, 0).reshape(-1, samples)
            mean_x, mean_y = design.mean(1), response.mean(1)
            centred_x = (design - mean_x[:, None]).numpy()
            centred_y = (response - mean_y[:, None]).numpy()
            solved = np.empty((centred_x.shape[0], taps))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                for pixel in range(centred_x.shape[0]):  # scikit-learn solves one pixel per call
                    solved[pixel] = solver(np.asfortranarray(centred_x[pixel]), centred_y[pixel], pairs)
            unconverged += sum(issubclass(w.category, ConvergenceWarning) for w in caught)
            coefficients = torch.from_numpy(solved)
            bias = mean_y - (coefficients * mean_x).sum(1)
            block = rows.stop - rows.start
            weights[group, :taps, rows] = coefficients.T.reshape(taps, block, width)
            weights[group, taps, rows] = bias.reshape(block, width)
    return weights.float(), mode, unconverged


def lasso_solver(l1: float) -> PixelSolver:
    """Coordinate-descent LASSO of one pixel: ``sum_pairs mean_channels (y - w.x)^2 + l1 * ||w||_1``.

    In scikit-learn's per-sample form ``(1 / 2S) ||y - Xw||^2 + alpha ||w||_1``
    that is ``alpha = l1 / (2 * pairs)``.
    """

    def solve(design: np.ndarray, response: np.ndarray, pairs: float) -> np.ndarray:
        """The pixel's LASSO weights (scikit-learn's checks skipped: the design is Fortran float64)."""
        estimator = Lasso(alpha=l1 / (2.0 * pairs), fit_intercept=False, max_iter=5000)
        return estimator.fit(design, response, check_input=False).coef_

    return solve


def omp_solver(nonzero: int) -> PixelSolver:
    """Orthogonal matching pursuit of one pixel: the least-squares fit on at most ``nonzero`` taps."""

    def solve(design: np.ndarray, response: np.ndarray, pairs: float) -> np.ndarray:
        """The pixel's OMP weights from its Gram matrix (``pairs`` is not needed: l0 has no penalty)."""
        with warnings.catch_warnings():  # a flat patch ends the pursuit early: fewer taps, not an error
            warnings.simplefilter("ignore", RuntimeWarning)
            return orthogonal_mp_gram(design.T @ design, design.T @ response, n_nonzero_coefs=nonzero)

    return solve


@register_model
class MaskedLasso(LocalLinearModel):
    """l1 baseline: per-pixel LASSO over the receptive field (scikit-learn), unregularised bias."""

    family = "masked-lasso"

    @classmethod
    def fit_batches(
        cls,
        batches: Batches,
        source: str = DEFAULT_SOURCE,
        target: str = DEFAULT_TARGET,
        field: ReceptiveField = ReceptiveField(),
        l1: float = DEFAULT_L1,
        colour: str = "tuple",
        ego: EgoOptions | None = None,
    ) -> "MaskedLasso":
        """Fit on (inputs, targets) batches of (n, C, H, W) crops in [0, 1] (all kept in memory).

        Raises:
            ValueError: no batch, mismatched shapes, non-positive ``l1``, unknown ``colour``.
        """
        if not l1 > 0:
            raise ValueError(f"the l1 penalty must be positive, got {l1}")
        inputs, targets = _collect(batches)
        weights, mode, unconverged = fit_per_pixel(inputs, targets, field, colour, lasso_solver(l1))
        options = {"l1": l1, "pairs": inputs.shape[0], "unconverged_pixels": unconverged}
        return cls(weights, field, inputs.shape[1], mode, source, target, ego, fit_options=options)

    @classmethod
    def fit(
        cls,
        prepared: PreparedDataset,
        split: str | None = "train",
        source: str = DEFAULT_SOURCE,
        target: str = DEFAULT_TARGET,
        field: ReceptiveField = ReceptiveField(),
        l1: float = DEFAULT_L1,
        colour: str = "tuple",
        ego: EgoOptions | None = None,
        progress: Progress | None = None,
    ) -> "MaskedLasso":
        """Fit ``source -> target`` on a prepared dataset's split (defaults: smiling -> neutral).

        Raises:
            BadInputError: no pair in the split, or an invalid option.
        """
        return fit_prepared(cls.fit_batches, prepared, split, source, target, progress,
                            field=field, l1=l1, colour=colour, ego=ego)


@register_model
class MaskedOMP(LocalLinearModel):
    """l0 baseline: per-pixel orthogonal matching pursuit over the receptive field (scikit-learn), unregularised bias."""

    family = "masked-omp"

    @classmethod
    def fit_batches(
        cls,
        batches: Batches,
        source: str = DEFAULT_SOURCE,
        target: str = DEFAULT_TARGET,
        field: ReceptiveField = ReceptiveField(),
        nonzero: int = DEFAULT_NONZERO,
        colour: str = "tuple",
        ego: EgoOptions | None = None,
    ) -> "MaskedOMP":
        """Fit on (inputs, targets) batches of (n, C, H, W) crops in [0, 1] (all kept in memory).

        Raises:
            ValueError: no batch, mismatched shapes, ``nonzero`` outside 1..r*r, unknown ``colour``.
        """
        if not 1 <= nonzero <= field.taps:
            raise ValueError(f"OMP may use 1 to {field.taps} taps per pixel with r={field.r}, got {nonzero}")
        inputs, targets = _collect(batches)
        weights, mode, _ = fit_per_pixel(inputs, targets, field, colour, omp_solver(nonzero))
        options = {"nonzero": nonzero, "pairs": inputs.shape[0]}
        return cls(weights, field, inputs.shape[1], mode, source, target, ego, fit_options=options)

    @classmethod
    def fit(
        cls,
        prepared: PreparedDataset,
        split: str | None = "train",
        source: str = DEFAULT_SOURCE,
        target: str = DEFAULT_TARGET,
        field: ReceptiveField = ReceptiveField(),
        nonzero: int = DEFAULT_NONZERO,
        colour: str = "tuple",
        ego: EgoOptions | None = None,
        progress: Progress | None = None,
    ) -> "MaskedOMP":
        """Fit ``source -> target`` on a prepared dataset's split (defaults: smiling -> neutral).

        Raises:
            BadInputError: no pair in the split, or an invalid option.
        """
        return fit_prepared(cls.fit_batches, prepared, split, source, target, progress,
                            field=field, nonzero=nonzero, colour=colour, ego=ego)


@register_model
class GlobalRidge(FaceModel):
    """l2 baseline: ``y = W x + b`` over whole images, solved through the N x N dual (see the module docstring).

    Args:
        inputs: (N, D) centred training inputs ``Xc``.
        coefficients: (N, D) dual coefficients ``A``.
        mean_input, mean_output: (D,) training means.
        size, channels: crop side and channels (D = channels * size * size).
        source, target: the expressions it maps from and to.
        fit_options: hyper-parameters and training summary, kept in the config.
    """

    family = "global-ridge"

    def __init__(
        self,
        inputs: torch.Tensor,
        coefficients: torch.Tensor,
        mean_input: torch.Tensor,
        mean_output: torch.Tensor,
        size: int,
        channels: int,
        source: str,
        target: str,
        fit_options: dict[str, Any] | None = None,
    ):
        dimension = channels * size * size
        shapes = (tuple(inputs.shape), tuple(coefficients.shape), tuple(mean_input.shape), tuple(mean_output.shape))
        if shapes != ((inputs.shape[0], dimension),) * 2 + ((dimension,),) * 2:
            raise ValueError(f"tensor shapes {shapes} do not fit {channels}x{size}x{size} crops")
        super().__init__(size, channels, (normalize_expression(source),), normalize_expression(target), 1)
        self.inputs, self.coefficients = inputs.float(), coefficients.float()
        self.mean_input, self.mean_output = mean_input.float(), mean_output.float()
        self.fit_options = dict(fit_options or {})

    @classmethod
    def fit_batches(
        cls,
        batches: Batches,
        source: str = DEFAULT_SOURCE,
        target: str = DEFAULT_TARGET,
        lam: float = DEFAULT_GLOBAL_LAMBDA,
    ) -> "GlobalRidge":
        """Fit on (inputs, targets) batches of (n, C, H, W) crops in [0, 1] (all kept in memory).

        Solves ``(Xc Xc^T + lam I) A = Yc`` in float64 by Cholesky.

        Raises:
            ValueError: no batch, mismatched shapes or non-positive ``lam``.
        """
        if not lam > 0:
            raise ValueError(f"lambda must be positive, got {lam}")
        inputs, targets = _collect(batches)
        pairs, channels, size = inputs.shape[0], inputs.shape[1], inputs.shape[-1]
        if inputs.shape[-2] != size:
            raise ValueError(f"the global ridge works on square crops, got {tuple(inputs.shape[-2:])}")
        x, y = inputs.reshape(pairs, -1).double(), targets.reshape(pairs, -1).double()
        mean_x, mean_y = x.mean(0), y.mean(0)
        centred_x, centred_y = x - mean_x, y - mean_y
        gram = centred_x @ centred_x.T
        gram.diagonal().add_(lam)
        coefficients = torch.cholesky_solve(centred_y, torch.linalg.cholesky(gram))
        return cls(centred_x, coefficients, mean_x, mean_y, size, channels, source, target,
                   {"lambda": lam, "pairs": pairs})

    @classmethod
    def fit(
        cls,
        prepared: PreparedDataset,
        split: str | None = "train",
        source: str = DEFAULT_SOURCE,
        target: str = DEFAULT_TARGET,
        lam: float = DEFAULT_GLOBAL_LAMBDA,
        progress: Progress | None = None,
    ) -> "GlobalRidge":
        """Fit ``source -> target`` on a prepared dataset's split (defaults: smiling -> neutral).

        Raises:
            BadInputError: no pair in the split, or an invalid option.
        """
        return fit_prepared(cls.fit_batches, prepared, split, source, target, progress, lam=lam)

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, target: str | None = None, strength: float = 1.0) -> torch.Tensor:
        """``mean_y + (x - mean_x) Xc^T A`` for the first crop of every item, clipped to [0, 1].

        ``strength`` goes in a straight line from the input (0) to that (1),
        itself a linear map of the input up to the clipping.
        """
        self.check_request(target, strength)
        images = inputs[:, 0].float()
        if tuple(images.shape[1:]) != (self.channels, self.size, self.size):
            raise ValueError(
                f"{self.name} expects {self.channels}x{self.size}x{self.size} crops, got {tuple(images.shape[1:])}"
            )
        flat = images.reshape(images.shape[0], -1) - self.mean_input
        mapped = (flat @ self.inputs.T) @ self.coefficients + self.mean_output
        return dial_strength(images, mapped.clamp_(0.0, 1.0).reshape(images.shape), strength)

    def config(self) -> dict[str, Any]:
        """Base config plus the fit options."""
        return {**super().config(), "fit": self.fit_options}

    def tensors(self) -> dict[str, torch.Tensor]:
        """Centred training inputs, dual coefficients and the two means."""
        return {"inputs": self.inputs, "coefficients": self.coefficients,
                "mean_input": self.mean_input, "mean_output": self.mean_output}

    def _move_tensors(self, device: torch.device) -> None:
        """Move the training inputs, dual coefficients and means."""
        self.inputs, self.coefficients = self.inputs.to(device), self.coefficients.to(device)
        self.mean_input, self.mean_output = self.mean_input.to(device), self.mean_output.to(device)

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> "GlobalRidge":
        """Rebuild from the config and the saved tensors.

        Raises:
            BadInputError: the tensors or config do not describe a global ridge model.
        """
        try:
            return cls(tensors["inputs"], tensors["coefficients"], tensors["mean_input"], tensors["mean_output"],
                       config["size"], config["channels"], config["source_expressions"][0],
                       config["target_expression"], config.get("fit"))
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise BadInputError(config.get("family", "?"), f"saved model does not match its config ({error})") from None
