"""A geometric model saved inside another family's folder (the variants that start from its face: NFGAN and the
Fader network on warp): its config under ``geometric`` in config.json, its tensors prefixed in the weights."""

from __future__ import annotations

from typing import Any

import torch

from facexpr.models.geometric.model import GeometricModel

#: Prefix of an embedded geometric model's tensors in the saved weights.
GEOMETRIC_PREFIX = "geometric."


def embedded_config(geometric: GeometricModel | None) -> dict[str, Any]:
    """``{"geometric": its config}`` to merge into the host's config (empty without one)."""
    return {"geometric": geometric.config()} if geometric is not None else {}


def embedded_tensors(geometric: GeometricModel | None) -> dict[str, torch.Tensor]:
    """The geometric model's tensors under :data:`GEOMETRIC_PREFIX`, to merge into the host's (empty without one)."""
    if geometric is None:
        return {}
    return {GEOMETRIC_PREFIX + k: v.contiguous() for k, v in geometric.tensors().items()}


def split_embedded(config: dict[str, Any], tensors: dict[str, torch.Tensor]
                   ) -> tuple[dict[str, torch.Tensor], GeometricModel | None]:
    """The host's own tensors and the geometric model saved beside them (None when the config has none).

    Raises:
        BadInputError: the embedded tensors do not match the embedded config.
    """
    own = {k: v for k, v in tensors.items() if not k.startswith(GEOMETRIC_PREFIX)}
    if "geometric" not in config:
        return own, None
    embedded = {k.removeprefix(GEOMETRIC_PREFIX): v for k, v in tensors.items() if k.startswith(GEOMETRIC_PREFIX)}
    return own, GeometricModel.from_saved(config["geometric"], embedded)
