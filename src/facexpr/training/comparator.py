"""Siamese guidance (issue 13): the comparator, ``facexpr train comparator``, and the guidance loss that
``facexpr train fader --siamese`` adds.

The comparator learns whether two aligned crops show the same expression from
pairs drawn anew every epoch from labelled crops: half of them the same
expression, half different, the two sides from different people whenever the
data has them (so that a pair's expression, not its person, decides), the
expression of the first side drawn uniformly (the classes are balanced by
construction). Each side is, with probability ``averaged``, an "averaged face"
as in the paper: the pixel mean of 2 to ``average_max`` crops of its
expression from different people. Its summary holds the accuracy on fixed
pairs of crops of the people each folder held out (its test split, else val),
beside the FER2013 judge's on the same pairs (same when its top classes agree).

The guidance (:class:`SiameseGuide`) is a frozen comparator, a trained one or
the FER judge ("same" = sum_k p_k(a) p_k(b), the probability that both crops
get the same class), and the loss of a reconstruction against a partner, another
training crop with the input's expression (:class:`PartnerDataset`), is
-log p(same).
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.utils.data import ConcatDataset, Dataset

from facexpr.data.balance import BalancedDataset
from facexpr.data.pairing import LabelledFaceDataset
from facexpr.io import BadInputError, as_channels
from facexpr.judges.expression import ExpressionJudge
from facexpr.models.emotion.comparator import (
    ComparatorModel,
    ComparatorNet,
    load_comparator,
)
from facexpr.models.emotion.config import FER_GUIDE, ComparatorConfig
from facexpr.training.data import DataSource, RepeatedDataset, open_prepared
from facexpr.training.emotion_data import (
    HELD_OUT_SPLITS,
    LABEL_CHART,
    EmotionDataModule,
    LabelledOptions,
    item_labels,
    record_in_summary,
    write_label_chart,
)
from facexpr.training.methods import register_method
from facexpr.training.module import GenerativeModule, TrainingMethod
from facexpr.training.options import TrainOptions
from facexpr.training.trainer import TrainResult, check_out_dir, run_training

#: The smallest p(same) the guidance loss takes the log of (a judge certain of "different" gives a finite loss).
MIN_SAME = 1e-6
#: Held-out pairs drawn per held-out crop.
HELD_OUT_PAIRS_PER_CROP = 2


def item_people(dataset: ConcatDataset) -> list[Hashable]:
    """Each item's person, (folder index, source, subject), read from the records of a concatenation of
    :class:`LabelledFaceDataset` (subjects are unique within a source, sources within a folder)."""
    return [(k, record.source, record.subject) for k, part in enumerate(dataset.datasets) for record in part.records]


def labelled_items(dataset: Dataset) -> tuple[list[int], list[Hashable]]:
    """Each item's class index and person, without loading any image, for a labelled training set: a
    concatenation of :class:`LabelledFaceDataset`, a :class:`BalancedDataset` of one, or either repeated.

    Raises:
        TypeError: another kind of dataset.
    """
    if isinstance(dataset, RepeatedDataset):
        labels, people = labelled_items(dataset.dataset)
        return [labels[i % len(labels)] for i in range(len(dataset))], [people[i % len(people)]
                                                                         for i in range(len(dataset))]
    if isinstance(dataset, BalancedDataset):
        labels, people = labelled_items(dataset.dataset)
        return [labels[i] for i, _ in dataset.plan], [people[i] for i, _ in dataset.plan]
    if isinstance(dataset, ConcatDataset) and all(isinstance(p, LabelledFaceDataset) for p in dataset.datasets):
        return item_labels(dataset), item_people(dataset)
    raise TypeError(f"expected labelled crops (LabelledFaceDataset parts), got {type(dataset).__name__}")


class LabelIndex:
    """Items grouped by expression and person, and the draws the pair sampler and the partners make from them.

    Args:
        labels: each item's class index.
        people: each item's person (any hashable).
    """

    def __init__(self, labels: Sequence[int], people: Sequence[Hashable]):
        if len(labels) != len(people) or not labels:
            raise ValueError(f"expected one person per label and at least one item, got {len(labels)} and "
                             f"{len(people)}")
        self.labels, self.people = list(labels), list(people)
        self.pools: dict[int, dict[Hashable, list[int]]] = {}
        for index, (label, person) in enumerate(zip(labels, people)):
            self.pools.setdefault(label, {}).setdefault(person, []).append(index)
        self.classes = sorted(self.pools)

    def people_of(self, label: int, avoid: Sequence[Hashable] = ()) -> list[Hashable]:
        """The people with crops of ``label``, those in ``avoid`` left out unless no one else has any."""
        everyone = list(self.pools[label])
        others = [p for p in everyone if p not in avoid]
        return others or everyone

    def crop_of(self, label: int, person: Hashable, rng: random.Random) -> int:
        """One item of ``person`` showing ``label``."""
        return rng.choice(self.pools[label][person])

    def side(self, label: int, avoid: Sequence[Hashable], crops: int, rng: random.Random) -> tuple[int, ...]:
        """Items for one side of a pair: one crop of ``label``, or the crops of an averaged face (up to
        ``crops`` people, at least 2 when two have that expression), from people outside ``avoid`` when
        possible."""
        people = self.people_of(label, avoid)
        chosen = rng.sample(people, min(crops, len(people)))
        return tuple(self.crop_of(label, person, rng) for person in chosen)

    def partner(self, index: int, rng: random.Random) -> int:
        """Another item with ``index``'s expression, of another person when one has it (else another crop of
        the same person, else ``index`` itself)."""
        label, person = self.labels[index], self.people[index]
        others = [p for p in self.pools[label] if p != person]
        if others:
            return self.crop_of(label, rng.choice(others), rng)
        mine = [i for i in self.pools[label][person] if i != index]
        return rng.choice(mine) if mine else index


@dataclass(frozen=True)
class PairDraw:
    """One drawn pair: the items averaged into each side (one item: a plain crop) and whether the two show the
    same expression."""

    first: tuple[int, ...]
    second: tuple[int, ...]
    same: bool


def draw_seed(seed: int, index: int, resample: bool) -> random.Random:
    """The generator of item ``index``: from torch's (seeded by Lightning; workers get their own streams) when
    drawn anew every epoch, else from ``seed`` and the index (fixed pairs)."""
    return random.Random(int(torch.randint(0, 2**62, ())) if resample else seed * 1_000_003 + index)


class ExpressionPairs(Dataset):
    """Pairs of labelled crops for the comparator: even items the same expression, odd ones different.

    The first side's expression is drawn uniformly among the classes, the
    second's is the same or uniformly another; each side comes from another
    person than the other side when the data allows. With probability
    ``averaged`` a side is an averaged face: the pixel mean of crops of its
    expression from 2 to ``average_max`` different people (fewer when fewer have
    it). Items are dicts: ``first``, ``second`` (C, H, W), ``same`` (1.0 or
    0.0), ``first_label``, ``second_label`` and ``first_crops``,
    ``second_crops`` (how many crops each side averages).

    Args:
        crops: labelled items (dicts with ``image``).
        labels, people: each item's class index and person (:func:`labelled_items`).
        length: pairs per epoch.
        averaged: probability that a side is an averaged face.
        average_max: the most crops an averaged face averages.
        seed: the pairs' seed when they are fixed.
        resample: draw every pair anew at each visit (training) instead of fixing them by ``seed``.

    Raises:
        ValueError: fewer than two expressions (no different pairs), or bad settings.
    """

    def __init__(self, crops: Dataset, labels: Sequence[int], people: Sequence[Hashable], length: int,
                 averaged: float = 0.0, average_max: int = 4, seed: int = 0, resample: bool = True):
        self.index = LabelIndex(labels, people)
        if len(self.index.classes) < 2:
            raise ValueError("comparator pairs need crops of at least two expressions")
        if length < 1 or not 0 <= averaged <= 1 or average_max < 2:
            raise ValueError("length must be positive, averaged in [0, 1] and average_max at least 2")
        self.crops, self.length, self.averaged, self.average_max = crops, length, averaged, average_max
        self.seed, self.resample = seed, resample

    def __len__(self) -> int:
        """Pairs per epoch."""
        return self.length

    def draw(self, index: int, rng: random.Random) -> PairDraw:
        """The items of pair ``index`` (same expression when ``index`` is even)."""
        same = index % 2 == 0
        first_label = rng.choice(self.index.classes)
        second_label = first_label if same else rng.choice([c for c in self.index.classes if c != first_label])
        sizes = [rng.randint(2, self.average_max) if rng.random() < self.averaged else 1 for _ in range(2)]
        first = self.index.side(first_label, (), sizes[0], rng)
        second = self.index.side(second_label, [self.index.people[i] for i in first], sizes[1], rng)
        return PairDraw(first, second, same)

    def image(self, items: tuple[int, ...]) -> torch.Tensor:
        """The pixel mean of the items' crops (the crop itself for one item)."""
        return torch.stack([self.crops[i]["image"] for i in items]).mean(0)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One pair, loaded."""
        pair = self.draw(index, draw_seed(self.seed, index, self.resample))
        return {"first": self.image(pair.first), "second": self.image(pair.second), "same": float(pair.same),
                "first_label": self.index.labels[pair.first[0]], "second_label": self.index.labels[pair.second[0]],
                "first_crops": len(pair.first), "second_crops": len(pair.second)}


class PartnerDataset(Dataset):
    """Labelled items with a ``partner``: another item's crop with the same expression, of another person when
    one has it (the siamese guidance's second side), drawn anew at each visit or fixed by ``seed``.

    Args:
        crops: labelled items (dicts with ``image`` and ``label``).
        labels, people: each item's class index and person (:func:`labelled_items`).
        seed: the partners' seed when they are fixed.
        resample: draw the partner anew at each visit (training).
    """

    def __init__(self, crops: Dataset, labels: Sequence[int], people: Sequence[Hashable], seed: int = 0,
                 resample: bool = True):
        self.crops, self.index, self.seed, self.resample = crops, LabelIndex(labels, people), seed, resample

    def __len__(self) -> int:
        """As many items as the crops."""
        return len(self.crops)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """The item and its partner's crop."""
        partner = self.index.partner(index, draw_seed(self.seed, index, self.resample))
        return {**self.crops[index], "partner": self.crops[partner]["image"]}


def with_partners(datamodule: EmotionDataModule, seed: int) -> EmotionDataModule:
    """The data module with a partner beside every training item (drawn anew each visit) and validation item
    (fixed by ``seed``); returns it."""
    datamodule.train_set = PartnerDataset(datamodule.train_set, *labelled_items(datamodule.train_set), seed, True)
    datamodule.val_set = PartnerDataset(datamodule.val_set, *labelled_items(datamodule.val_set), seed, False)
    return datamodule


class PairDataModule(EmotionDataModule):
    """Comparator pairs (:class:`ExpressionPairs`) from the labelled crops of :class:`EmotionDataModule`
    (balanced with ``balance``): an epoch draws max(``min_epoch_items``, crops) new training pairs; the
    validation pairs (each folder's val people, plain crops) are fixed."""

    kind = "pairs"

    def __init__(self, data: DataSource | Sequence[DataSource], split: str = "train", batch_size: int = 16,
                 workers: int = 0, min_epoch_items: int = 0, balance: int = 0, seed: int = 0,
                 averaged: float = 0.0, average_max: int = 4):
        super().__init__(data, split, batch_size, workers, 0, balance, seed)
        crops = self.train_set
        self.train_set = ExpressionPairs(crops, *labelled_items(crops), max(min_epoch_items, len(crops)), averaged,
                                         average_max, seed, resample=True)
        self.val_set = ExpressionPairs(self.val_set, *labelled_items(self.val_set), 2 * len(self.val_set), 0.0,
                                       average_max, seed, resample=False)
        self.averaged, self.average_max, self.train_crops = averaged, average_max, len(crops)

    def describe(self) -> dict[str, Any]:
        """The base description (its items are pairs), the training crops and the pairs' averaged faces."""
        return {**super().describe(), "train_crops": self.train_crops, "averaged": self.averaged,
                "average_max": self.average_max}


class ComparatorMethod(TrainingMethod):
    """Terms ``bce`` (binary cross-entropy of "same", weighted 1), ``accuracy`` and, with an ``auxiliary``
    weight, ``expression`` (both sides' cross-entropy of their expression); ``output`` is p(same) and
    ``target`` the pair's label, so the module's ``val_mse`` is the Brier score. Checkpoints follow the
    validation BCE."""

    image_keys = ("first", "second")
    monitor = "val/bce"

    def __init__(self, config: ComparatorConfig):
        super().__init__(config.size)
        self.config = config
        self.net = ComparatorNet(config)

    @property
    def generator(self) -> nn.Module:
        """The siamese network."""
        return self.net

    def with_images(self, batch: dict, images: tuple[torch.Tensor, ...]) -> dict:
        """The batch with new crops, in the network's channels."""
        return super().with_images(batch, tuple(as_channels(image, self.config.channels) for image in images))

    def run(self, batch: dict) -> dict[str, torch.Tensor]:
        """Both sides' features, the pairs' logits and probabilities, and the labels."""
        first, second = self.net.features(batch["first"]), self.net.features(batch["second"])
        logits = self.net.pair_logits(first, second)
        same = batch["same"].to(logits.dtype)
        return {"logits": logits, "same": same, "output": torch.sigmoid(logits)[:, None], "target": same[:, None],
                "features": torch.cat([first, second]),
                "labels": torch.cat([batch["first_label"], batch["second_label"]]).long()}

    def losses(self, player: str, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``bce``, ``accuracy`` and, with an auxiliary weight, ``expression`` over the batch."""
        logits, same = outputs["logits"], outputs["same"]
        terms = {"bce": F.binary_cross_entropy_with_logits(logits, same),
                 "accuracy": ((logits > 0).to(same.dtype) == same).float().mean()}
        if self.config.auxiliary:
            terms["expression"] = F.cross_entropy(self.net.class_logits(outputs["features"]), outputs["labels"])
        return terms

    def export(self) -> ComparatorModel:
        """The trained comparator (on the CPU, in eval mode)."""
        network = ComparatorNet(self.config)
        network.load_state_dict({k: v.detach().cpu() for k, v in self.net.state_dict().items()})
        return ComparatorModel(self.config, network)


def held_out_pairs(data: DataSource | Sequence[DataSource], classes: Sequence[str], seed: int = 0) -> \
        tuple[ExpressionPairs | None, list[str]]:
    """Fixed pairs of plain crops of the people the folders held out (each folder's test split, else val): two
    per crop, half the same expression; and the splits used (None when no folder holds any out)."""
    parts, used = [], []
    for source in data if isinstance(data, (list, tuple)) else [data]:
        prepared = open_prepared(source)
        split = next((s for s in HELD_OUT_SPLITS if s in prepared.splits), None)
        if split is None or not any(r.expression in classes for r in prepared.select(split)):
            continue
        parts.append(LabelledFaceDataset(prepared, split, classes))
        used.append(f"{prepared.root}:{split}")
    if not parts:
        return None, used
    crops = ConcatDataset(parts)
    labels, people = labelled_items(crops)
    if len(set(labels)) < 2:
        return None, used
    return ExpressionPairs(crops, labels, people, HELD_OUT_PAIRS_PER_CROP * len(crops), 0.0, seed=seed,
                           resample=False), used


def fer_same(first: torch.Tensor, second: torch.Tensor, judge: ExpressionJudge) -> torch.Tensor:
    """The FER judge's p(same) (B,): sum over its classes of p_k(first) p_k(second), differentiable."""
    return (judge.probabilities_tensor(first) * judge.probabilities_tensor(second)).sum(1)


def score_pairs(model: ComparatorModel, pairs: ExpressionPairs, batch_size: int = 64) -> dict[str, Any]:
    """Accuracy (p(same) > 0.5) of the comparator on ``pairs``, overall and on same and different pairs, beside
    the FER judge's on the same pairs (same when both crops' most probable FER classes agree)."""
    judge = ExpressionJudge()
    correct: dict[str, list[bool]] = {"comparator": [], "fer": []}
    truth: list[bool] = []
    for start in range(0, len(pairs), batch_size):
        items = [pairs[i] for i in range(start, min(start + batch_size, len(pairs)))]
        first, second = (torch.stack([item[key] for item in items]) for key in ("first", "second"))
        same = torch.tensor([item["same"] > 0.5 for item in items])
        with torch.no_grad():
            fer = judge.probabilities_tensor(first).argmax(1) == judge.probabilities_tensor(second).argmax(1)
        correct["comparator"] += ((model.same(first, second) > 0.5) == same).tolist()
        correct["fer"] += (fer.cpu() == same).tolist()
        truth += same.tolist()

    def rate(values: list[bool], keep: list[bool]) -> float | None:
        """The fraction of true ``values`` among those kept (None when none is)."""
        chosen = [v for v, k in zip(values, keep) if k]
        return round(sum(chosen) / len(chosen), 4) if chosen else None

    everything = [True] * len(truth)
    different = [not t for t in truth]
    return {"pairs": len(truth),
            **{f"{name}_{part}": rate(values, keep) for name, values in correct.items()
               for part, keep in (("accuracy", everything), ("same", truth), ("different", different))}}


def pair_datamodule(data: DataSource | Sequence[DataSource], split: str, options: TrainOptions,
                    labelled: LabelledOptions, config: ComparatorConfig, out_dir: Path) -> PairDataModule:
    """The comparator's pairs (balanced with ``labelled.balance``; then the chart of the label counts before and
    after is written into ``out_dir``)."""
    datamodule = PairDataModule(data, split, options.batch_size, options.workers, options.min_epoch_items,
                                labelled.balance, options.seed, config.averaged, config.average_max)
    if labelled.balance:
        write_label_chart(out_dir / LABEL_CHART, datamodule.counts)
    return datamodule


@register_method("comparator", config=ComparatorConfig, labelled=LabelledOptions, options=TrainOptions)
def train_comparator(
    data: DataSource | Sequence[DataSource],
    out: str | Path,
    split: str = "train",
    config: ComparatorConfig | None = None,
    labelled: LabelledOptions | None = None,
    options: TrainOptions | None = None,
    callbacks: tuple[Callback, ...] = (),
) -> TrainResult:
    """The paper's siamese comparator: do two crops show the same expression? Trained on pairs (half the same
    expression, half different, including averaged faces); the guidance of facexpr train fader --siamese DIR.

    Trains on pairs of labelled crops of ``split`` of one or several prepared
    folders into the folder ``out``; ``config`` defaults to the ``cpu`` preset,
    its channels and classes follow the data. The summary holds the accuracy
    on pairs of held-out people, beside the FER judge's on the same pairs.
    Rerunning after an interruption resumes.

    Raises:
        BadInputError: unreadable data, fewer than two expressions, or ``out`` already holds a finished model.
    """
    out_dir = Path(out)
    check_out_dir(out_dir)
    options, labelled = options or TrainOptions(), labelled or LabelledOptions()
    config = config or ComparatorConfig.from_preset("cpu")
    try:
        datamodule = pair_datamodule(data, split, options, labelled, config, out_dir)
    except ValueError as error:
        raise BadInputError(data if not isinstance(data, (list, tuple)) else data[0], str(error)) from None
    config = config.for_data(datamodule.channels, datamodule.classes)
    L.seed_everything(options.seed, workers=True, verbose=False)
    weights = {"bce": 1.0, **({"expression": config.auxiliary} if config.auxiliary else {})}
    module = GenerativeModule(ComparatorMethod(config), weights, options.lr, options.augment)
    describe = {"stage": "comparator", **datamodule.describe(), "comparator": config.to_dict(),
                "labelled": labelled.to_dict()}
    result = run_training(module, datamodule, out_dir, options, callbacks, describe)
    if result.model is None or result.summary is None:
        return result
    pairs, splits = held_out_pairs(data, config.classes, options.seed)
    scores = {"splits": splits, **(score_pairs(result.model, pairs) if pairs is not None else {"pairs": 0})}
    result.summary = record_in_summary(out_dir, result.model, result.summary, held_out=scores)
    return result


class SiameseGuide:
    """A frozen comparator for the guidance loss: a comparator model folder, or ``fer`` (the FER2013 judge,
    unless a folder of that name exists). Not an ``nn.Module``: a method holding it neither checkpoints its
    weights nor switches it to training mode.

    Raises:
        BadInputError: ``spec`` is neither ``fer`` nor a comparator model folder (one line, naming it).
    """

    def __init__(self, spec: str | Path):
        self.spec = str(spec)
        self.comparator: ComparatorModel | None = None
        self.judge: ExpressionJudge | None = None
        if self.spec == FER_GUIDE and not Path(spec).exists():
            self.judge = ExpressionJudge()
            self.judge.model  # noqa: B018  load now, so a broken judge fails before training
        elif not Path(spec).is_dir():
            raise BadInputError(spec, f"no such comparator model folder (--siamese takes one or {FER_GUIDE!r})")
        else:
            self.comparator = load_comparator(spec)
            self.comparator.network.requires_grad_(False)

    def _on(self, device: torch.device) -> None:
        """Move the frozen network to ``device`` when it is elsewhere."""
        if self.comparator is not None and self.comparator.device != device:
            self.comparator.to(device)
        if self.judge is not None and self.judge.device != device:
            self.judge = ExpressionJudge(device, self.judge.weights)

    def loss(self, output: torch.Tensor, partner: torch.Tensor) -> torch.Tensor:
        """-log p(same) (B,) of each output crop and its partner (B, C, S, S) in [0, 1]; gradients flow to
        ``output`` (and ``partner`` when it requires them)."""
        self._on(output.device)
        if self.comparator is not None:
            return F.softplus(-self.comparator.logits(output, partner))  # -log sigmoid(logit), stable
        return -fer_same(output, partner, self.judge).clamp_min(MIN_SAME).log()
