"""One yardstick for every model: evaluation items, judges' scores, baselines and reports."""

from facexpr.evaluation.evaluate import (
    Evaluation,
    ModelRun,
    compare,
    evaluate,
    resolve_model,
)
from facexpr.evaluation.items import EvalItem, evaluation_items

__all__ = ["EvalItem", "Evaluation", "ModelRun", "compare", "evaluate", "evaluation_items", "resolve_model"]
