"""Training samples from a prepared dataset: expressive -> neutral pairs, N-shot groups, neutral-only and
labelled sets.

A *prepared dataset* is the folder ``facexpr prepare`` writes: aligned square
crops of one size and ``manifest.csv`` (see :mod:`facexpr.data.records`).
:class:`PreparedDataset` reads it; the pure functions below decide which crops
go together, and the torch Datasets at the end load them:

* :func:`neutral_records` / :class:`NeutralFaceDataset`: every neutral crop
  (stage 1 learns the space of neutral faces).
* :func:`expression_pairs` / :class:`PairDataset`: each expressive crop of a
  subject with that subject's neutral reference (normalisation), or each neutral
  crop with the subject's crop of a target expression (synthesis).
* :func:`nshot_groups` / :class:`NShotDataset`: N expressive crops of one
  subject with their neutral reference (the multi-image model).
* :class:`LabelledFaceDataset`: every crop with its expression as a class index
  (classifiers).
* :class:`ConditionalPairDataset`: every crop of a person with that person's crop
  of each other expression, named by its class (conditional models).

Identities are ``(source, subject)``: subject labels are only unique within a
dataset. Pairs never cross subjects; subjects that cannot be used are reported
with a one-line reason instead of being dropped silently.
"""

from __future__ import annotations

import csv
import math
import random
import re
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from facexpr.data.augment import balance_expressions
from facexpr.data.records import (
    EXPRESSIONS,
    FaceRecord,
    normalize_expression,
    read_manifest,
)
from facexpr.io import BadInputError, load_image

SubjectKey = tuple[str, str]
Pair = tuple[FaceRecord, FaceRecord]
Group = tuple[list[FaceRecord], FaceRecord]
#: A dataset transform: called with one sample's images, each (C, H, W), returns
#: them (a tensor for one image, a tuple for several) with one shared random draw.
Transform = Callable[..., Any]

_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


# --------------------------------------------------------------------------- prepared dataset


class PreparedDataset:
    """A folder written by ``facexpr prepare``: ``manifest.csv`` plus the crops it lists.

    Args:
        root: the prepared folder.
        cache_size: crops kept in memory (as uint8) after their first read, least
            recently used dropped first; 0 (default) disables the cache and None
            keeps every crop. Crops are small (128 x 128 RGB is 48 KB) and are
            re-read every epoch, so a small dataset is best cached whole. Each
            DataLoader worker holds its own cache.
        grey: load crops as one channel (True) or three (False); None decides
            from the first crop read (grey PNGs stay grey, RGB stays RGB).

    Raises:
        BadInputError: ``root`` or its ``manifest.csv`` is missing, unreadable,
            lacks the required columns or lists no crop.
    """

    def __init__(self, root: str | Path, cache_size: int | None = 0, grey: bool | None = None):
        self.root = Path(root)
        self.manifest_path = self.root / "manifest.csv"
        if not self.root.is_dir():
            raise BadInputError(self.root, "no such folder (expected a folder written by `facexpr prepare`)")
        if not self.manifest_path.is_file():
            raise BadInputError(self.manifest_path, "no manifest.csv: not a prepared dataset (run `facexpr prepare` first)")
        try:
            self.records: list[FaceRecord] = read_manifest(self.manifest_path)
        except BadInputError:
            raise
        except (OSError, ValueError, csv.Error) as error:  # ValueError covers undecodable bytes
            raise BadInputError(self.manifest_path, f"cannot read manifest ({error})") from None
        if not self.records:
            raise BadInputError(self.manifest_path, "manifest lists no crop")
        self.cache_size = cache_size
        self.grey = grey
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._size: tuple[int, int] | None = None

    def __len__(self) -> int:
        """Number of crops in the manifest."""
        return len(self.records)

    @property
    def splits(self) -> list[str]:
        """The split names present in the manifest, sorted."""
        return sorted({r.split for r in self.records})

    def select(
        self, split: str | Iterable[str] | None = None, expressions: str | Iterable[str] | None = None
    ) -> list[FaceRecord]:
        """The records of the given split(s) and expression(s), in manifest order.

        ``None`` means all. Expression labels are normalised (``"happiness"``
        selects ``"happy"``), so callers can pass dataset labels.
        """
        splits = None if split is None else {split} if isinstance(split, str) else set(split)
        wanted = _expression_set(expressions)
        return [
            r for r in self.records
            if (splits is None or r.split in splits) and (wanted is None or r.expression in wanted)
        ]

    def image_path(self, record: FaceRecord) -> Path:
        """Where the record's crop lives (manifest paths are relative to the folder)."""
        return self.root / record.path

    def load(self, record: FaceRecord) -> torch.Tensor:
        """The record's crop as float32 (C, H, W) in [0, 1]; C is 1 (grey) or 3 (RGB).

        Raises:
            BadInputError: the crop is missing or unreadable, or its size differs
                from the crops read before (batches need one size).
        """
        key = record.path
        cached = self._cache.get(key)
        if cached is None:
            cached = self._read(self.image_path(record))
            if self.cache_size is None or self.cache_size > 0:
                self._cache[key] = cached
                if self.cache_size is not None and len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return cached.to(torch.float32).div_(255.0)

    def _read(self, path: Path) -> torch.Tensor:
        """Decode one crop to uint8 (C, H, W), checking that it has the dataset's size."""
        if self.grey is None:
            self.grey = _is_grey_file(path)
        array = load_image(path, grey=self.grey)
        size = (array.shape[1], array.shape[0])
        if self._size is None:
            self._size = size
        elif size != self._size:
            raise BadInputError(
                path, f"crop is {size[0]}x{size[1]} but earlier crops are {self._size[0]}x{self._size[1]}"
            )
        array = array[:, :, None] if array.ndim == 2 else array
        return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def _is_grey_file(path: Path) -> bool:
    """True when the image file stores one channel (decides grey for a whole dataset)."""
    try:
        with Image.open(path) as image:
            return image.mode in _GREY_MODES
    except OSError:
        return False  # load_image reports the actual problem with the file


def _expression_set(expressions: str | Iterable[str] | None) -> set[str] | None:
    """Normalised expression labels, or None for "all"."""
    if expressions is None:
        return None
    if isinstance(expressions, str):
        expressions = [expressions]
    return {normalize_expression(e) for e in expressions}


# --------------------------------------------------------------------------- pairing logic


@dataclass(frozen=True)
class SubjectNote:
    """A subject that was left out (or treated specially), with a one-line reason."""

    source: str
    subject: str
    reason: str

    def __str__(self) -> str:
        """``"source/subject: reason"``."""
        name = f"{self.source}/{self.subject}" if self.source else self.subject
        return f"{name}: {self.reason}"


@dataclass
class PairingResult:
    """Pairs from :func:`expression_pairs` and the subjects that yielded none.

    Iterating, ``len`` and indexing act on :attr:`pairs`.
    """

    pairs: list[Pair]
    skipped: list[SubjectNote] = field(default_factory=list)

    def __len__(self) -> int:
        """Number of pairs."""
        return len(self.pairs)

    def __iter__(self) -> Iterator[Pair]:
        """Iterate over the pairs."""
        return iter(self.pairs)

    def __getitem__(self, index: int) -> Pair:
        """One pair."""
        return self.pairs[index]


@dataclass
class NShotResult:
    """Groups from :func:`nshot_groups`, the subjects left out and those short of N images.

    Iterating, ``len`` and indexing act on :attr:`groups`.
    """

    groups: list[Group]
    skipped: list[SubjectNote] = field(default_factory=list)
    repeated: list[SubjectNote] = field(default_factory=list)

    def __len__(self) -> int:
        """Number of groups."""
        return len(self.groups)

    def __iter__(self) -> Iterator[Group]:
        """Iterate over the groups."""
        return iter(self.groups)

    def __getitem__(self, index: int) -> Group:
        """One group."""
        return self.groups[index]


def _natural(text: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key that orders "2" before "10" and "S005/001/9" before "S005/001/11"."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part)


def _is_true(value: Any) -> bool:
    """A manifest flag: True, 1, "true", "yes" (the CSV round trip turns True into "True")."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return value is True or value == 1


def _neutrality(record: FaceRecord) -> float | None:
    """The record's numeric ``neutrality`` meta value, if any."""
    value = record.meta.get("neutrality")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def _by_subject(records: Iterable[FaceRecord]) -> dict[SubjectKey, list[FaceRecord]]:
    """Records grouped by (source, subject), subjects sorted, records in take order."""
    groups: dict[SubjectKey, list[FaceRecord]] = defaultdict(list)
    for record in records:
        groups[record.key()].append(record)
    return {key: sorted(groups[key], key=lambda r: (_natural(r.take), r.path)) for key in sorted(groups)}


def _choose_reference(candidates: Sequence[FaceRecord]) -> FaceRecord:
    """One record among a subject's records of one expression (see :func:`neutral_reference`)."""
    flagged = [r for r in candidates if _is_true(r.meta.get("reference"))]
    if flagged:
        candidates = flagged
    scored = [r for r in candidates if _neutrality(r) is not None]
    if scored and candidates[0].is_neutral:
        return max(scored, key=lambda r: _neutrality(r))  # max keeps the first of equals
    return min(candidates, key=lambda r: (_natural(r.take), r.path))


def reference_records(records: Iterable[FaceRecord], expression: str = "neutral") -> dict[SubjectKey, FaceRecord]:
    """Each subject's one reference record of ``expression``: the target of its pairs.

    A subject with several records of that expression gets the one flagged
    ``reference`` in the meta (True/1/"true"), else, for neutral only, the one
    with the highest ``neutrality`` score, else the first by take (natural
    order: take "2" before "10", then path). Subjects with no record of the
    expression are absent.
    """
    expression = normalize_expression(expression)
    return {
        key: _choose_reference(matching)
        for key, group in _by_subject(records).items()
        if (matching := [r for r in group if r.expression == expression])
    }


def neutral_reference(records: Iterable[FaceRecord]) -> dict[SubjectKey, FaceRecord]:
    """Each subject's neutral target, keyed by (source, subject).

    With several neutral crops the choice is: the one flagged ``reference=True``
    in the manifest meta; else the most neutral by the ``neutrality`` score that
    ``facexpr prepare`` measures; else the first by take. One fixed target per
    subject keeps every expressive crop of that subject mapped to the same face.
    """
    return reference_records(records, "neutral")


def stay_neutral_pairs(records: Iterable[FaceRecord]) -> list[tuple[FaceRecord, FaceRecord]]:
    """(neutral crop, its subject's neutral reference) for every neutral crop, the reference paired with itself
    included: pairs that teach a neutralizer to leave a neutral face as it is, and to keep the person."""
    records = list(records)
    references = neutral_reference(records)
    return [(r, references[r.key()]) for r in records if r.is_neutral]


def neutral_records(records: Iterable[FaceRecord]) -> list[FaceRecord]:
    """Every neutral crop, in the given order: the training set of stage 1 (neutral faces only)."""
    return [r for r in records if r.is_neutral]


def expression_pairs(
    records: Iterable[FaceRecord],
    source_expressions: str | Iterable[str] | None = None,
    target_expression: str = "neutral",
) -> PairingResult:
    """(source, target) pairs of the same subject: expressive -> neutral, or neutral -> an expression.

    Normalisation (the default): every non-neutral record of a subject is paired
    with that subject's neutral reference (:func:`neutral_reference`).
    Synthesis (``target_expression="happy"``): every neutral record is paired
    with the subject's reference record of that expression
    (:func:`reference_records`). ``source_expressions`` restricts or replaces the
    sources (e.g. ``["happy", "sad"]``); a record is never paired with itself.

    Subjects that yield no pair are listed in ``result.skipped`` with a one-line
    reason: no image of the target expression, or no source image. Pairs come
    grouped by subject (sorted) in take order, so the result is reproducible.
    """
    target_expression = normalize_expression(target_expression)
    wanted = _expression_set(source_expressions)
    if wanted is not None:
        described, is_source = "/".join(sorted(wanted)), lambda r: r.expression in wanted
    elif target_expression == "neutral":
        described, is_source = "non-neutral", lambda r: not r.is_neutral
    else:
        described, is_source = "neutral", lambda r: r.is_neutral
    result = PairingResult([])
    for (source, subject), group in _by_subject(records).items():
        candidates = [r for r in group if r.expression == target_expression]
        sources = [r for r in group if is_source(r)]
        if not candidates:
            result.skipped.append(SubjectNote(
                source, subject,
                f"no {target_expression} image: its {len(sources)} {described} crop(s) cannot be paired"))
            continue
        target = _choose_reference(candidates)
        sources = [r for r in sources if r is not target]
        if not sources:
            result.skipped.append(SubjectNote(source, subject, f"no {described} image to pair with its {target_expression} one"))
            continue
        result.pairs += [(r, target) for r in sources]
    return result


def _draw(pool: Sequence[FaceRecord], shots: int, rng: random.Random) -> list[FaceRecord]:
    """``shots`` records from ``pool``: all distinct while they last, then repeats drawn at random."""
    if len(pool) >= shots:
        return rng.sample(list(pool), shots)
    drawn = rng.sample(list(pool), len(pool))
    return drawn + [rng.choice(pool) for _ in range(shots - len(pool))]


@dataclass
class _Candidate:
    """One subject eligible for N-shot groups: its input pool and neutral target."""

    key: SubjectKey
    pool: list[FaceRecord]
    target: FaceRecord


def _nshot_candidates(
    records: Iterable[FaceRecord],
    shots: int,
    short: Literal["repeat", "drop"],
    source_expressions: str | Iterable[str] | None,
) -> tuple[list[_Candidate], list[SubjectNote], list[SubjectNote]]:
    """The subjects usable for N-shot groups, the ones left out and the ones short of N (with reasons)."""
    if shots < 1:
        raise ValueError(f"shots must be at least 1, got {shots}")
    if short not in ("repeat", "drop"):
        raise ValueError(f"short must be 'repeat' or 'drop', got {short!r}")
    wanted = _expression_set(source_expressions)
    candidates: list[_Candidate] = []
    skipped: list[SubjectNote] = []
    repeated: list[SubjectNote] = []
    for (source, subject), group in _by_subject(records).items():
        neutrals = [r for r in group if r.is_neutral]
        if not neutrals:
            skipped.append(SubjectNote(source, subject, f"no neutral image: its {len(group)} crop(s) cannot be grouped"))
            continue
        target = _choose_reference(neutrals)
        pool = [r for r in group if r is not target and (r.expression in wanted if wanted is not None else not r.is_neutral)]
        if not pool:
            skipped.append(SubjectNote(source, subject, "no expressive image"))
        elif len(pool) < shots and short == "drop":
            skipped.append(SubjectNote(source, subject, f"only {len(pool)} expressive image(s), {shots} needed"))
        else:
            if len(pool) < shots:
                repeated.append(SubjectNote(
                    source, subject, f"only {len(pool)} expressive image(s) for {shots} shots: some are repeated"))
            candidates.append(_Candidate((source, subject), pool, target))
    return candidates, skipped, repeated


def nshot_groups(
    records: Iterable[FaceRecord],
    shots: int,
    seed: int = 0,
    groups_per_subject: int = 1,
    short: Literal["repeat", "drop"] = "repeat",
    source_expressions: str | Iterable[str] | None = None,
) -> NShotResult:
    """Groups of ``shots`` expressive crops of one subject with that subject's neutral target.

    The inputs of a group are drawn at random (seeded) from the subject's
    expressive crops: every non-neutral record, or those of
    ``source_expressions``; the neutral target is never among them. A subject
    with fewer than ``shots`` expressive crops is handled by ``short``:

    * ``"repeat"`` (default): the group holds every distinct crop once, then
      random repeats up to ``shots``; the subject is listed in ``result.repeated``.
    * ``"drop"``: the subject is left out and listed in ``result.skipped``.

    Subjects without a neutral image or without an expressive one are always
    left out and listed in ``result.skipped``. ``groups_per_subject`` independent
    draws are made per subject.
    """
    candidates, skipped, repeated = _nshot_candidates(records, shots, short, source_expressions)
    rng = random.Random(seed)
    groups = [(_draw(c.pool, shots, rng), c.target) for c in candidates for _ in range(groups_per_subject)]
    return NShotResult(groups, skipped, repeated)


# --------------------------------------------------------------------------- torch datasets


def _no_records(prepared: PreparedDataset, what: str, split: str | None) -> BadInputError:
    """The error for a dataset that would be empty, naming the splits that exist."""
    where = "the manifest" if split is None else f"split {split!r}"
    return BadInputError(prepared.manifest_path, f"no {what} in {where} (splits present: {', '.join(prepared.splits)})")


def _apply(transform: Transform | None, *images: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Run a dataset transform on one sample's images; always returns a tuple."""
    if transform is None:
        return images
    out = transform(*images)
    return (out,) if isinstance(out, torch.Tensor) else tuple(out)


class NeutralFaceDataset(Dataset):
    """Every neutral crop of a split, as float (C, H, W) in [0, 1]: stage 1's training set.

    ``transform(image) -> image`` is applied to each crop (e.g. a :class:`FaceAugment`).

    Raises:
        BadInputError: the split has no neutral crop.
    """

    def __init__(self, prepared: PreparedDataset, split: str | None, transform: Transform | None = None):
        self.prepared = prepared
        self.transform = transform
        self.records = neutral_records(prepared.select(split))
        if not self.records:
            raise _no_records(prepared, "neutral crops", split)

    def __len__(self) -> int:
        """Number of neutral crops."""
        return len(self.records)

    def __getitem__(self, index: int) -> torch.Tensor:
        """One neutral crop, transformed."""
        return _apply(self.transform, self.prepared.load(self.records[index]))[0]


class PairDataset(Dataset):
    """(input, target) crops of one subject, from :func:`expression_pairs` on one split.

    Items are dicts: ``input`` and ``target`` (C, H, W) in [0, 1], ``subject``,
    ``source``, ``expression`` (the input's) and ``names`` (input and target
    paths). ``transform(input, target) -> (input, target)`` must apply one
    random draw to both so they stay aligned, as :class:`FaceAugment` does.
    ``balance`` (``"oversample"`` / ``"undersample"``) evens out the input
    expressions with :func:`balance_expressions` (seeded by ``seed``).
    ``neutral_pairs`` (neutral target only) adds :func:`stay_neutral_pairs`.
    Subjects without a target are in :attr:`skipped`.

    Raises:
        BadInputError: the split yields no pair.
    """

    def __init__(
        self,
        prepared: PreparedDataset,
        split: str | None,
        source_expressions: str | Iterable[str] | None = None,
        target_expression: str = "neutral",
        transform: Transform | None = None,
        balance: Literal["oversample", "undersample"] | None = None,
        seed: int = 0,
        neutral_pairs: bool = False,
    ):
        self.prepared = prepared
        self.transform = transform
        records = prepared.select(split)
        result = expression_pairs(records, source_expressions, target_expression)
        self.skipped = result.skipped
        self.pairs = result.pairs
        if neutral_pairs and normalize_expression(target_expression) == "neutral":
            self.pairs += stay_neutral_pairs(records)
        if balance is not None:
            self.pairs = balance_expressions(self.pairs, seed=seed, mode=balance, label=lambda pair: pair[0].expression)
        if not self.pairs:
            raise _no_records(prepared, f"pairs with a {normalize_expression(target_expression)} target", split)

    def __len__(self) -> int:
        """Number of pairs."""
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One pair, loaded and transformed with a shared draw."""
        source, target = self.pairs[index]
        image, goal = _apply(self.transform, self.prepared.load(source), self.prepared.load(target))
        return {
            "input": image,
            "target": goal,
            "subject": source.subject,
            "source": source.source,
            "expression": source.expression,
            "names": [source.path, target.path],
        }


class NShotDataset(Dataset):
    """Groups of ``shots`` expressive crops of one subject with their neutral target (multi-image model).

    Items are dicts: ``inputs`` (N, C, H, W), ``target`` (C, H, W), ``subject``,
    ``source`` and ``names`` (N input paths, then the target path). The dataset
    has ``groups_per_subject`` items per usable subject; ``short`` and the
    reports :attr:`skipped` / :attr:`repeated` are as in :func:`nshot_groups`.

    With ``resample_each_epoch=True`` (default) each item draws its inputs anew
    from torch's random generator, so every epoch sees other combinations;
    seed it with ``torch.manual_seed`` (DataLoader workers get distinct,
    reproducible streams). With False the groups are fixed once by
    :func:`nshot_groups` with ``seed`` (e.g. for validation).
    ``transform(*inputs, target)`` gets the N + 1 images (C, H, W) of a group
    and must return them with one shared draw, as :class:`FaceAugment` does.

    Raises:
        BadInputError: no subject of the split can form a group.
    """

    def __init__(
        self,
        prepared: PreparedDataset,
        split: str | None,
        shots: int,
        seed: int = 0,
        transform: Transform | None = None,
        resample_each_epoch: bool = True,
        groups_per_subject: int = 1,
        short: Literal["repeat", "drop"] = "repeat",
        source_expressions: str | Iterable[str] | None = None,
    ):
        self.prepared = prepared
        self.shots = shots
        self.transform = transform
        self.resample_each_epoch = resample_each_epoch
        candidates, self.skipped, self.repeated = _nshot_candidates(prepared.select(split), shots, short, source_expressions)
        self._candidates = [c for c in candidates for _ in range(groups_per_subject)]
        if not self._candidates:
            raise _no_records(prepared, f"subject with a neutral and {shots} expressive crop(s)", split)
        rng = random.Random(seed)  # the same draws as nshot_groups(records, shots, seed, ...)
        self.groups: list[Group] = [] if resample_each_epoch else [
            (_draw(c.pool, shots, rng), c.target) for c in self._candidates]

    def __len__(self) -> int:
        """Number of groups per epoch."""
        return len(self._candidates)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One group, loaded and transformed with a shared draw."""
        if self.resample_each_epoch:
            candidate = self._candidates[index]
            rng = random.Random(int(torch.randint(0, 2**62, ())))
            inputs, target = _draw(candidate.pool, self.shots, rng), candidate.target
        else:
            inputs, target = self.groups[index]
        images = _apply(self.transform, *(self.prepared.load(r) for r in inputs), self.prepared.load(target))
        return {
            "inputs": torch.stack(images[:-1]),
            "target": images[-1],
            "subject": target.subject,
            "source": target.source,
            "names": [r.path for r in inputs] + [target.path],
        }


def expression_classes(records: Sequence[FaceRecord], classes: Sequence[str] | None = None) -> tuple[str, ...]:
    """The class list of a labelled dataset: ``classes`` normalized, or else the canonical expressions
    (:data:`EXPRESSIONS`) present in ``records``, in that order."""
    if classes:
        return tuple(normalize_expression(c) for c in classes)
    present = {record.expression for record in records}
    return tuple(e for e in EXPRESSIONS if e in present)


class LabelledFaceDataset(Dataset):
    """Every crop of a split with its expression as a class index: what classifiers and conditional models learn.

    Items are dicts: ``image`` (C, H, W) in [0, 1], ``label`` (the index of
    the crop's expression in ``classes``), ``subject``, ``source`` and ``name``.
    ``classes`` defaults to the canonical expressions (:data:`EXPRESSIONS`)
    present in the split, in that order; crops of other expressions
    (``sleepy``, ``wink``) are left out. ``transform(image) -> image`` is
    applied to each crop.

    Raises:
        BadInputError: no crop of the split shows one of ``classes``.
    """

    def __init__(self, prepared: PreparedDataset, split: str | None, classes: Sequence[str] | None = None,
                 transform: Transform | None = None):
        self.prepared = prepared
        self.transform = transform
        records = prepared.select(split)
        self.classes = expression_classes(records, classes)
        self.records = [record for record in records if record.expression in self.classes]
        if not self.records:
            raise _no_records(prepared, f"crops labelled {', '.join(self.classes) or 'with a known expression'}", split)

    def __len__(self) -> int:
        """Number of labelled crops."""
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One crop, transformed, with its class index."""
        record = self.records[index]
        return {
            "image": _apply(self.transform, self.prepared.load(record))[0],
            "label": self.classes.index(record.expression),
            "subject": record.subject,
            "source": record.source,
            "name": record.path,
        }


class ConditionalPairDataset(Dataset):
    """Every ordered pair of two expressions of one person, the target named by its class: what a conditional
    model (image + one-hot target -> that person with that expression) learns from.

    For each subject and each pair of different expressions among ``classes``
    it has, the input is each crop of the source expression and the target
    the subject's reference crop of the target expression (see
    :func:`reference_records`). Items are dicts: ``input`` and ``target``
    (C, H, W), ``label`` (the target's class index), ``source_label`` (the
    input's), ``subject``, ``source`` and ``names``. ``classes`` defaults to
    the canonical expressions present in the split. ``transform(input,
    target)`` must apply one draw to both.

    Raises:
        BadInputError: no subject of the split shows two of ``classes``.
    """

    def __init__(self, prepared: PreparedDataset, split: str | None, classes: Sequence[str] | None = None,
                 transform: Transform | None = None):
        self.prepared = prepared
        self.transform = transform
        records = prepared.select(split)
        self.classes = expression_classes(records, classes)
        references = {expression: reference_records(records, expression) for expression in self.classes}
        self.pairs: list[tuple[FaceRecord, FaceRecord]] = []
        for key, subject_records in _by_subject(records).items():
            for source in subject_records:
                if source.expression not in self.classes:
                    continue
                for expression in self.classes:
                    target = references[expression].get(key)
                    if target is not None and expression != source.expression:
                        self.pairs.append((source, target))
        if not self.pairs:
            raise _no_records(prepared, f"subject with two of {', '.join(self.classes) or 'the expressions'}", split)

    def __len__(self) -> int:
        """Number of (input, target expression) pairs."""
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One pair, loaded and transformed with a shared draw, with the target's and the input's class."""
        source, target = self.pairs[index]
        image, goal = _apply(self.transform, self.prepared.load(source), self.prepared.load(target))
        return {
            "input": image,
            "target": goal,
            "label": self.classes.index(target.expression),
            "source_label": self.classes.index(source.expression),
            "subject": source.subject,
            "source": source.source,
            "names": [source.path, target.path],
        }
