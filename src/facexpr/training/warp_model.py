"""The geometric model a variant starts from (NFGAN's and the Fader network's ``--on-warp``)."""

from __future__ import annotations

from facexpr.io import BadInputError
from facexpr.models.base import load_model
from facexpr.models.geometric import GeometricModel, default_model


def load_warp_model(folder: str, channels: int) -> GeometricModel:
    """The geometric model in ``folder`` (empty: the one shipped with facexpr), checked for the data's channels.

    Raises:
        BadInputError: the folder is not a geometric model, or its channels are not the data's.
    """
    geometric = load_model(folder) if folder else default_model()
    where = folder or "the shipped geometric model"
    if not isinstance(geometric, GeometricModel):
        raise BadInputError(where, f"--warp-model must be a geometric model, not {geometric.family}")
    if geometric.channels != channels:
        raise BadInputError(where, f"works on {geometric.channels}-channel crops, the data has {channels}")
    return geometric
