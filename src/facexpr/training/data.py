"""One Lightning DataModule per kind of supervision, from one or several prepared folders (``--data`` repeats).

* :class:`NeutralDataModule`: neutral crops (a VAE learns the space of neutral faces);
* :class:`PairedDataModule`: (input, target) crops of one person: expressive -> neutral, or neutral ->
  an expression (``target_expression``);
* :class:`NShotDataModule`: N expressive crops of one person with their neutral face;
* :class:`LabelledDataModule`: crops with their expression as a class index (classifiers);
* :class:`ConditionalDataModule`: a crop, the class of a target expression, and that person's crop of it
  (conditional models: one model for every target).

Each folder contributes its ``split`` for training and its ``val`` split for
validation (its training split when it has none); the folders' items are
concatenated, so a model can learn from FRL London, Yale and synthetic faces at
once. A folder that offers nothing for the kind of supervision is an error
naming it, not silently dropped.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from facexpr.data.pairing import (
    ConditionalPairDataset,
    LabelledFaceDataset,
    NeutralFaceDataset,
    NShotDataset,
    PairDataset,
    PreparedDataset,
    expression_classes,
)
from facexpr.io import BadInputError

VAL_SPLIT = "val"

DataSource = str | Path | PreparedDataset


def open_prepared(data: DataSource) -> PreparedDataset:
    """A prepared dataset with every crop cached in memory (they are re-read every epoch)."""
    return data if isinstance(data, PreparedDataset) else PreparedDataset(data, cache_size=None)


def validation_split(prepared: PreparedDataset, train_split: str) -> str:
    """``val`` when the dataset has one, else the training split itself (then the stopping rule cannot fire early)."""
    return VAL_SPLIT if VAL_SPLIT in prepared.splits else train_split


class RepeatedDataset(Dataset):
    """A dataset gone through ``length / len(dataset)`` times per epoch (item ``i`` is item ``i % len``).

    Used instead of a sampler with ``num_samples`` because Lightning swaps a
    shuffling sampler for a ``DistributedSampler`` of the plain dataset under
    DDP, which would drop the repetition.
    """

    def __init__(self, dataset: Dataset, length: int):
        self.dataset = dataset
        self.length = length

    def __len__(self) -> int:
        """Items per epoch."""
        return self.length

    def __getitem__(self, index: int) -> Any:
        """The underlying item (drawn and augmented anew at each visit)."""
        return self.dataset[index % len(self.dataset)]


def distinct_items(dataset: Dataset) -> int:
    """Number of different items behind a (possibly repeated) training set."""
    return len(dataset.dataset) if isinstance(dataset, RepeatedDataset) else len(dataset)


class SupervisionDataModule(L.LightningDataModule, abc.ABC):
    """Training and validation batches of one kind of supervision from one or several prepared folders.

    Args:
        data: a prepared folder or several (their items are concatenated).
        split: the split each folder trains on.
        batch_size: items per batch.
        workers: DataLoader worker processes.
        min_epoch_items: an epoch draws at least this many training items (the
            training set is gone through several times when smaller, each time
            in a new order and with new augmentations).

    Raises:
        BadInputError: unreadable folders, folders whose crops differ in
            channels, or a folder without items of this supervision.
    """

    kind: ClassVar[str]

    def __init__(self, data: DataSource | Sequence[DataSource], split: str = "train", batch_size: int = 16,
                 workers: int = 0, min_epoch_items: int = 0):
        super().__init__()
        sources = _as_list(data)
        if not sources:
            raise ValueError("no prepared dataset given")
        self.prepared = [open_prepared(source) for source in sources]
        self.split = split
        self.batch_size = batch_size
        self.workers = workers
        self.val_splits = [validation_split(prepared, split) for prepared in self.prepared]
        self.channels = self._channels()
        train = ConcatDataset([self.build(prepared, split, True) for prepared in self.prepared])
        self.val_set = ConcatDataset([self.build(p, s, False) for p, s in zip(self.prepared, self.val_splits)])
        self.train_set: Dataset = train
        if min_epoch_items > len(train):
            self.train_set = RepeatedDataset(train, -(-min_epoch_items // len(train)) * len(train))

    def _channels(self) -> int:
        """The crops' channel count, the same in every folder."""
        found = {prepared.root: prepared.load(prepared.records[0]).shape[0] for prepared in self.prepared}
        if len(set(found.values())) > 1:
            root = next(r for r, c in found.items() if c != next(iter(found.values())))
            raise BadInputError(root, f"crops have {found[root]} channel(s), those of the first --data folder "
                                      f"{next(iter(found.values()))}; prepare them alike (--grey or colour)")
        return next(iter(found.values()))

    @abc.abstractmethod
    def build(self, prepared: PreparedDataset, split: str, training: bool) -> Dataset:
        """The items of one folder's split (``training``: the training set, else the validation set)."""

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches; the last partial batch is dropped when there are more."""
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True,
                          drop_last=len(self.train_set) > self.batch_size, num_workers=self.workers,
                          persistent_workers=self.workers > 0)

    def val_dataloader(self) -> DataLoader:
        """Validation batches in a fixed order."""
        return DataLoader(self.val_set, batch_size=self.batch_size, shuffle=False, num_workers=self.workers,
                          persistent_workers=self.workers > 0)

    def describe(self) -> dict[str, Any]:
        """What the training summary records about the data."""
        roots = [str(prepared.root) for prepared in self.prepared]
        return {
            "supervision": self.kind,
            "data": roots[0] if len(roots) == 1 else roots,
            "train_split": self.split,
            "val_split": self.val_splits[0] if len(set(self.val_splits)) == 1 else self.val_splits,
            "train_items": distinct_items(self.train_set),
            "epoch_items": len(self.train_set),
            "val_items": len(self.val_set),
        }


class NeutralDataModule(SupervisionDataModule):
    """Every neutral crop (C, H, W)."""

    kind = "neutral"

    def build(self, prepared: PreparedDataset, split: str, training: bool) -> Dataset:
        """The folder's neutral crops of ``split``."""
        return NeutralFaceDataset(prepared, split)


class PairedDataModule(SupervisionDataModule):
    """Dicts with ``input`` and ``target`` (C, H, W) of one person: expressive -> neutral by default,
    neutral -> ``target_expression`` for synthesis (``source_expressions`` limits the inputs);
    ``neutral_pairs`` adds neutral -> the person's neutral reference to the training pairs."""

    kind = "paired"

    def __init__(self, data: DataSource | Sequence[DataSource], split: str = "train", batch_size: int = 16,
                 workers: int = 0, min_epoch_items: int = 0, target_expression: str = "neutral",
                 source_expressions: Sequence[str] | None = None, neutral_pairs: bool = False):
        self.target_expression = target_expression
        self.source_expressions = source_expressions
        self.neutral_pairs = neutral_pairs
        super().__init__(data, split, batch_size, workers, min_epoch_items)

    def build(self, prepared: PreparedDataset, split: str, training: bool) -> Dataset:
        """The folder's pairs of ``split`` (validation: expressive -> neutral only, what the model is for)."""
        return PairDataset(prepared, split, self.source_expressions, self.target_expression,
                           neutral_pairs=self.neutral_pairs and training)


class NShotDataModule(SupervisionDataModule):
    """Dicts with ``inputs`` (N, C, H, W) expressive crops of one person and their neutral ``target``.

    Training groups are drawn anew every epoch; validation groups are fixed
    (seeded), so validation errors compare across epochs.
    """

    kind = "nshot"

    def __init__(self, data: DataSource | Sequence[DataSource], shots: int, split: str = "train",
                 batch_size: int = 16, workers: int = 0, min_epoch_items: int = 0, seed: int = 0):
        self.shots = shots
        self.seed = seed
        super().__init__(data, split, batch_size, workers, min_epoch_items)

    def build(self, prepared: PreparedDataset, split: str, training: bool) -> Dataset:
        """The folder's groups of ``split``."""
        return NShotDataset(prepared, split, self.shots, seed=self.seed, resample_each_epoch=training)

    def describe(self) -> dict[str, Any]:
        """The base description and the number of photos per group."""
        return {**super().describe(), "shots": self.shots}


class ClassesDataModule(SupervisionDataModule, abc.ABC):
    """A data module whose items name an expression by its index in :attr:`classes`.

    ``classes`` defaults to the canonical expressions found in the training
    splits of all folders; every folder uses the same list.
    """

    def __init__(self, data: DataSource | Sequence[DataSource], split: str = "train", batch_size: int = 16,
                 workers: int = 0, min_epoch_items: int = 0, classes: Sequence[str] | None = None):
        prepared = [open_prepared(source) for source in _as_list(data)]
        self.classes = tuple(classes) if classes else _classes_in(prepared, split)
        super().__init__(prepared, split, batch_size, workers, min_epoch_items)

    def describe(self) -> dict[str, Any]:
        """The base description and the classes."""
        return {**super().describe(), "classes": list(self.classes)}


class LabelledDataModule(ClassesDataModule):
    """Dicts with ``image`` (C, H, W) and ``label``, the index of its expression in :attr:`classes`."""

    kind = "labelled"

    def build(self, prepared: PreparedDataset, split: str, training: bool) -> Dataset:
        """The folder's crops of ``split`` showing one of :attr:`classes`."""
        return LabelledFaceDataset(prepared, split, self.classes)


class ConditionalDataModule(ClassesDataModule):
    """Dicts with ``input``, ``target`` (the same person with another expression) and ``label``, the index of
    the target's expression in :attr:`classes` (and ``source_label``, the input's)."""

    kind = "conditional"

    def build(self, prepared: PreparedDataset, split: str, training: bool) -> Dataset:
        """The folder's pairs of ``split`` between two of :attr:`classes`."""
        return ConditionalPairDataset(prepared, split, self.classes)


def _classes_in(prepared: Sequence[PreparedDataset], split: str) -> tuple[str, ...]:
    """The canonical expressions present in any folder's ``split``, in canonical order."""
    return expression_classes([record for dataset in prepared for record in dataset.select(split)])


def _as_list(data: DataSource | Sequence[DataSource]) -> list[DataSource]:
    """One prepared folder or several, as a list."""
    return [data] if isinstance(data, (str, Path, PreparedDataset)) else list(data)
