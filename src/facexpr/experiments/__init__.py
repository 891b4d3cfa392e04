"""Experiments: the thesis' tables regenerated on a prepared dataset (``facexpr experiments``).

* :func:`run_tables`, :class:`ExperimentSettings` and :data:`TABLES` (``thesis.py``).
"""

from facexpr.experiments.thesis import TABLES, ExperimentSettings, RunResult, TableResult, run_tables

__all__ = ["TABLES", "ExperimentSettings", "RunResult", "TableResult", "run_tables"]
