"""The two baselines every model is measured against.

* ``identity`` returns its input unchanged: the failure of a model that learned
  the identity function (as the conditional-DCGAN report found).
* ``mean-neutral`` returns the average neutral face: the failure of a model that
  forgets who it is looking at. It averages the training split's neutral crops,
  or, for a held-out set without a training split, every *other* subject's
  neutral crops (leave one subject out: evaluation calls
  :meth:`MeanFaceModel.predict_leaving_out` with each item's subject), so the
  subject's own face never leaks into its prediction. ``mean-happy`` etc. are
  the same baseline for synthesis models (the mean face of the target expression).

Neither can dial a strength of its own: both go in a straight line from the
input photo (0) to their output (1), :func:`~facexpr.models.base.dial_strength`.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from facexpr.data.pairing import PreparedDataset, reference_records
from facexpr.io import BadInputError
from facexpr.models.base import FaceModel, dial_strength, register_model, resize_to


@register_model
class IdentityModel(FaceModel):
    """Returns the first input photo unchanged."""

    family = "identity"

    @property
    def name(self) -> str:
        """Always ``identity``: the baseline's name in tables."""
        return "identity"

    @classmethod
    def fit(cls, prepared: PreparedDataset, split: str | None = "train", size: int | None = None) -> "IdentityModel":
        """Nothing to learn: an identity model at the dataset's channels and crop size (or ``size``)."""
        first = prepared.load(prepared.records[0])
        return cls(size or first.shape[-1], first.shape[0], None, "neutral")

    def predict(self, inputs: torch.Tensor, target: str | None = None, strength: float = 1.0) -> torch.Tensor:
        """The first of each item's input crops (at every strength: the line from the input to itself)."""
        self.check_request(target, strength)
        return inputs[:, 0].clone()

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> "IdentityModel":
        """Rebuild from config (no weights)."""
        return cls(config["size"], config["channels"], config.get("source_expressions"), config["target_expression"])


@register_model
class MeanFaceModel(FaceModel):
    """Returns the mean face of the target expression, leaving the item's own subject out when asked to.

    Holds one reference crop per subject (``subject_means``, S x C x H x W)
    and ``loso``: when true (fitted on the held-out set itself),
    :meth:`predict_leaving_out` averages every subject but the item's own;
    when false, all subjects, as :meth:`predict` always does.
    """

    family = "mean-face"

    def __init__(
        self,
        subject_means: torch.Tensor,
        subject_keys: Sequence[tuple[str, str]],
        loso: bool,
        target_expression: str = "neutral",
    ):
        _, channels, size, _ = subject_means.shape
        source = None if target_expression == "neutral" else ("neutral",)
        super().__init__(size, channels, source, target_expression)
        self.subject_means = subject_means.float()
        self.subject_keys = [tuple(k) for k in subject_keys]
        self.loso = bool(loso)

    @property
    def name(self) -> str:
        """``mean-neutral``, ``mean-happy``, ..."""
        return f"mean-{self.target_expression}"

    @classmethod
    def fit(
        cls, prepared: PreparedDataset, split: str | None = "test", expression: str = "neutral", size: int | None = None
    ) -> "MeanFaceModel":
        """Average the ``expression`` reference crop of every training subject (resized to ``size`` if given).

        With a training split present, that split is used and nothing is left
        out; without one (a held-out set prepared with ``--split test``), the
        subjects of ``split`` are used leave-one-subject-out.

        Raises:
            BadInputError: no crop of ``expression`` to average.
        """
        train = prepared.select(split="train")
        loso = not train
        records = train or prepared.select(split=None if split == "all" else split)
        references = reference_records(records, expression)
        if not references:
            raise BadInputError(prepared.root, f"no {expression} crops to average for the mean-{expression} baseline")
        keys = sorted(references)
        means = torch.stack([prepared.load(references[k]) for k in keys])
        return cls(means if size is None else resize_to(means, size), keys, loso, expression)

    def predict(self, inputs: torch.Tensor, target: str | None = None, strength: float = 1.0) -> torch.Tensor:
        """The mean face of every subject it holds, for each item (``strength`` goes from the first input to it)."""
        self.check_request(target, strength)
        mean = self.subject_means.mean(0).expand(inputs.shape[0], -1, -1, -1).clone()
        return dial_strength(inputs[:, 0], mean, strength)

    def predict_leaving_out(self, inputs: torch.Tensor, subjects: Sequence[tuple[str, str]]) -> torch.Tensor:
        """The mean face without each item's own subject (``subjects``: its (source, subject)) when ``loso``;
        the mean of all when not, or when the subject is unknown or the only one.

        Raises:
            ValueError: not one subject per item.
        """
        if len(subjects) != inputs.shape[0]:
            raise ValueError(f"{len(subjects)} subject(s) for {inputs.shape[0]} item(s)")
        total = self.subject_means.sum(0)
        count = len(self.subject_keys)
        if not self.loso:
            return (total / count).expand(inputs.shape[0], -1, -1, -1).clone()
        index = {k: i for i, k in enumerate(self.subject_keys)}
        outputs = []
        for key in subjects:
            i = index.get(tuple(key))
            if i is None or count == 1:
                outputs.append(total / count)
            else:
                outputs.append((total - self.subject_means[i]) / (count - 1))
        return torch.stack(outputs)

    def config(self) -> dict[str, Any]:
        """Base config plus the subject keys and the leave-one-out flag."""
        return {**super().config(), "subject_keys": [list(k) for k in self.subject_keys], "loso": self.loso}

    def tensors(self) -> dict[str, torch.Tensor]:
        """The per-subject reference crops."""
        return {"subject_means": self.subject_means}

    def _move_tensors(self, device: torch.device) -> None:
        """Move the per-subject reference crops."""
        self.subject_means = self.subject_means.to(device)

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> "MeanFaceModel":
        """Rebuild from config and the saved subject crops."""
        return cls(tensors["subject_means"], config["subject_keys"], config["loso"], config["target_expression"])
