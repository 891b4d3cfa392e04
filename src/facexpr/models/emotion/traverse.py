"""Latent traversals, the emotion-VAE paper's Fig. 8/11 strips: one expression's attribute dialled through
equally spaced values while everything else about the face stays the input's own.

A :class:`Traversable` model splits a face's latent into one value per
expression but neutral (the Fader network's attributes y, the SS-VAE's class
axes) and the rest (the Fader's code z, the SS-VAE's other dimensions).
:meth:`Traversable.traverse` decodes, per face, two strips of ``steps`` faces:

* the strip: the attribute at ``steps`` equally spaced values from its minimum
  to its maximum seen in training (:meth:`Traversable.traversal_range`), the
  same values for every face;
* the opposite strip: the attribute at ``steps`` equally spaced values from
  the face's own value (its first face is the reconstruction) to minus that
  maximum: the axis pushed the other way, past the training minimum into
  negative values training never produced (the paper's sadness axis turning
  into joy when dialled below zero).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import torch

from facexpr.data.records import normalize_expression

#: Faces per strip, as the paper's figures.
DEFAULT_STEPS = 6


@dataclass(frozen=True)
class Traversal:
    """The strips of a batch of faces along one expression's attribute.

    Attributes:
        expression: the traversed expression.
        values: (B, steps) the attribute's value in each face of :attr:`faces` (minimum to maximum).
        faces: (B, steps, C, S, S) in [0, 1].
        opposite_values: (B, steps) the attribute's value in each face of :attr:`opposite` (own to -maximum).
        opposite: (B, steps, C, S, S) in [0, 1].
    """

    expression: str
    values: torch.Tensor
    faces: torch.Tensor
    opposite_values: torch.Tensor
    opposite: torch.Tensor


class Traversable(abc.ABC):
    """A model whose expressions are attributes of its latent, dialled one at a time (mixed into a
    :class:`~facexpr.models.base.FaceModel`, whose ``name`` the errors use)."""

    name: str

    @property
    @abc.abstractmethod
    def traversable(self) -> tuple[str, ...]:
        """The expressions with an attribute (every class but neutral), in attribute order."""

    @abc.abstractmethod
    def traversal_range(self, expression: str) -> tuple[float, float]:
        """Minimum and maximum of ``expression``'s attribute seen in training."""

    @abc.abstractmethod
    def latent_attributes(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The rest of the latent (B, ...) and the attribute values (B, A) of crops (B, C, H, W) in [0, 1]."""

    @abc.abstractmethod
    def decode_attributes(self, rest: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
        """Crops (B, C, S, S) from the rest of the latent and attribute values (B, A)."""

    def traversal_axis(self, expression: str) -> int:
        """Index of ``expression``'s attribute (labels normalised: ``smiling`` is happy).

        Raises:
            ValueError: an expression without an attribute (naming those with one).
        """
        canonical = normalize_expression(expression)
        if canonical not in self.traversable:
            raise ValueError(f"{self.name} has no attribute for {expression!r} to traverse "
                             f"(it has: {', '.join(self.traversable)})")
        return self.traversable.index(canonical)

    @torch.no_grad()
    def traverse(self, crops: torch.Tensor, expression: str, steps: int = DEFAULT_STEPS) -> Traversal:
        """Per face of ``crops`` (B, C, H, W) in [0, 1], the strip and the opposite strip of ``expression``
        (see :mod:`facexpr.models.emotion.traverse`), every other attribute and the rest of the latent kept
        at the face's own.

        Raises:
            ValueError: crops of the wrong shape, fewer than 2 steps, or an expression without an attribute.
        """
        if crops.ndim != 4:
            raise ValueError(f"expected crops (B, C, H, W), got shape {tuple(crops.shape)}")
        if steps < 2:
            raise ValueError(f"a traversal needs at least 2 steps, got {steps}")
        axis = self.traversal_axis(expression)
        low, high = self.traversal_range(self.traversable[axis])
        rest, own = self.latent_attributes(crops)
        ramp = torch.linspace(0.0, 1.0, steps, device=own.device).expand(len(own), steps)
        values = low + ramp * (high - low)
        start = own[:, axis:axis + 1]
        opposite = start + ramp * (-high - start)
        return Traversal(self.traversable[axis], values, self._strip(rest, own, axis, values),
                         opposite, self._strip(rest, own, axis, opposite))

    def _strip(self, rest: torch.Tensor, own: torch.Tensor, axis: int, values: torch.Tensor) -> torch.Tensor:
        """Faces (B, steps, C, S, S): each face's own attributes with ``axis`` set to its row of ``values``."""
        batch, steps = values.shape
        attributes = own.repeat_interleave(steps, 0)
        attributes[:, axis] = values.reshape(-1)
        faces = self.decode_attributes(rest.repeat_interleave(steps, 0), attributes).clamp(0, 1)
        return faces.unflatten(0, (batch, steps))
