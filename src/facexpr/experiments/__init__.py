"""Experiments: the thesis' tables regenerated on a prepared dataset (``facexpr experiments``).

* :func:`run_tables`, :class:`ExperimentSettings` and :data:`TABLES` (``thesis.py``).
* :func:`run_seed001` and :class:`Seed001Settings`: "Generating Facial Expressions" reproduced, with the fixes
  (``seed001.py``).
* :func:`run_nfgan_table` and :class:`NFGANTableSettings`: NFGAN's losses ablated, as published, and on the
  geometric model's face (``nfgan_table.py``).
* :func:`run_seed002` and :class:`Seed002Settings`: the emotion-VAE paper's Fader network under its three
  conditions, measured as expression sliders (``seed002.py``).
* :func:`cross_validate_geometric`: subject-level K-fold numbers of the geometric model (``crossval.py``).
"""

from facexpr.experiments.crossval import CrossValidation, cross_validate_geometric
from facexpr.experiments.nfgan_table import NFGANTableSettings, run_nfgan_table
from facexpr.experiments.seed001 import Seed001Settings, run_seed001
from facexpr.experiments.seed002 import Seed002Settings, run_seed002
from facexpr.experiments.thesis import (
    TABLES,
    ExperimentSettings,
    RunResult,
    TableResult,
    run_tables,
)

__all__ = ["CrossValidation", "TABLES", "cross_validate_geometric", "ExperimentSettings", "RunResult", "TableResult", "run_tables", "Seed001Settings", "run_seed001",
           "NFGANTableSettings", "run_nfgan_table", "Seed002Settings", "run_seed002"]
