"""DataLoaders of both stages from a prepared dataset: neutral crops (stage 1) and N-shot groups (stage 2)."""

from __future__ import annotations

from pathlib import Path

from typing import Any

from torch.utils.data import DataLoader, Dataset

from facexpr.data.pairing import NeutralFaceDataset, NShotDataset, PreparedDataset

VAL_SPLIT = "val"


def open_prepared(data: str | Path | PreparedDataset) -> PreparedDataset:
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


def _loaders(
    train: Dataset, val: Dataset, batch_size: int, workers: int, min_epoch_items: int
) -> tuple[DataLoader, DataLoader]:
    """Shuffled training batches of at least ``min_epoch_items`` items per epoch (the dataset repeated as
    needed; last partial batch dropped when there are more) and ordered validation batches."""
    if min_epoch_items > len(train):
        train = RepeatedDataset(train, -(-min_epoch_items // len(train)) * len(train))
    return (
        DataLoader(train, batch_size=batch_size, shuffle=True, drop_last=len(train) > batch_size,
                   num_workers=workers, persistent_workers=workers > 0),
        DataLoader(val, batch_size=batch_size, shuffle=False, num_workers=workers, persistent_workers=workers > 0),
    )


def neutral_loaders(
    prepared: PreparedDataset, split: str, batch_size: int, workers: int = 0, min_epoch_items: int = 0
) -> tuple[DataLoader, DataLoader, str]:
    """Stage 1: every neutral crop of ``split`` for training, of the validation split for validation.

    Returns the two loaders and the validation split's name.

    Raises:
        BadInputError: a split without neutral crops.
    """
    val_split = validation_split(prepared, split)
    train, val = NeutralFaceDataset(prepared, split), NeutralFaceDataset(prepared, val_split)
    return (*_loaders(train, val, batch_size, workers, min_epoch_items), val_split)


def nshot_loaders(
    prepared: PreparedDataset, split: str, shots: int, batch_size: int, workers: int = 0, seed: int = 0,
    min_epoch_items: int = 0,
) -> tuple[DataLoader, DataLoader, str]:
    """Stage 2: groups of ``shots`` expressive crops with the subject's neutral face.

    Training groups are drawn anew every epoch; validation groups are fixed
    (seeded), so validation errors compare across epochs.

    Raises:
        BadInputError: a split where no subject has a neutral and an expressive crop.
    """
    val_split = validation_split(prepared, split)
    train = NShotDataset(prepared, split, shots, seed=seed, resample_each_epoch=True)
    val = NShotDataset(prepared, val_split, shots, seed=seed, resample_each_epoch=False)
    return (*_loaders(train, val, batch_size, workers, min_epoch_items), val_split)
