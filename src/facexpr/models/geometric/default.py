"""The geometric model shipped inside the package: ``facexpr neutralize photo.jpg`` works with no ``--model``.

It was trained on all 82 people of the Face Research Lab London set (CC BY 4.0;
DeBruine & Jones 2017) at 128 px with the default options, by ``make model``;
``default/README.md`` beside it gives the citation, the licence and the command.
Nothing derived from the Yale Face Database is shipped (its licence is research use only).
"""

from __future__ import annotations

from pathlib import Path

from facexpr.io import BadInputError
from facexpr.models.base import CONFIG_FILE, load_model
from facexpr.models.geometric.model import GeometricModel

#: The shipped model's folder (package data).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default"


def default_model() -> GeometricModel:
    """Load the shipped geometric model.

    Raises:
        BadInputError: the package was installed without its model files.
    """
    if not (DEFAULT_MODEL_DIR / CONFIG_FILE).is_file():
        raise BadInputError(DEFAULT_MODEL_DIR, "the shipped model is missing from this install (rebuild it: make model)")
    model = load_model(DEFAULT_MODEL_DIR)
    if not isinstance(model, GeometricModel):
        raise BadInputError(DEFAULT_MODEL_DIR, f"the shipped model is a {model.family} model, not geometric")
    return model
