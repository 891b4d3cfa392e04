"""Every registered family learns: trained with its own recipe on synthetic people, it beats both baselines on
people it never saw.

For each family of :data:`facexpr.training.RECIPES` (a family registered later is picked up at collection time),
the default recipe is fitted on one set of synthetic people and scored on others, as ``facexpr evaluate`` scores
it: its evaluation items, every model run through ``predict_held_out``, one :class:`Scorer` with the judges.
The held-out people have a prepared folder of their own (test split only), so the ``mean-neutral`` baseline there
is the average face of the *other* held-out people (leave one subject out); ``identity`` returns the input photo.
Each (family, baseline, metric) claim is one test; a family is fitted and scored once, the baselines once per
set of items. A claim a family fails today is a strict xfail carrying the measured numbers: the day it passes,
the marker has to go.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

import facexpr.training  # noqa: F401  registers every family's recipe
from facexpr.data.pairing import PreparedDataset
from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.synthetic import generate_dataset
from facexpr.evaluation import evaluation_items, resolve_model
from facexpr.evaluation.evaluate import run_model
from facexpr.evaluation.scoring import METRICS, Judges, Scorer
from facexpr.io import to_uint8
from facexpr.models import FaceModel
from facexpr.models.base import resize_to
from facexpr.training import RECIPES, fit_family

#: Registered families that are the yardstick, not learners.
BASELINE_FAMILIES = {
    "identity": "the identity baseline returns its input: it is what every family is measured against",
    "mean-face": "the mean-face baseline (mean-neutral) is what every family is measured against",
}
#: Crop side per family (default 64 px). The geometric model finds dlib landmarks on its crops, which needs
#: faces as large as tests/test_geometric.py gives it.
SIZES = {"geometric": 128}
DEFAULT_SIZE = 64
#: Synthetic people, neutral and happy (the expression every family neutralizes, masked regression's default
#: mapping included): the recipes train on TRAIN_PEOPLE (85% train, 15% val) and are scored on HELD_OUT_PEOPLE
#: others (another seed). 200 to train: global ridge maps a face through the span of the training faces; with 24
#: it lost to identity on PSNR by 4 dB, with 85 it won on one data seed (+0.9 dB) and lost on another (-1.0 dB),
#: with 170 it wins on both (+2.9, +1.7). 20 held out, not 6: with 7, one face decided the neutralizer's PSNR.
TRAIN_PEOPLE, HELD_OUT_PEOPLE = 200, 20
EXPRESSIONS = ("neutral", "happy")

#: What a family must beat each baseline on, whatever its task (neutralize: the target is the person's true
#: neutral face; synthesize: their true face of the target expression):
#:
#: * identity (returning the input): ``psnr``, closer in pixels to the true target than the input photo is,
#:   and ``landmark_error``, the face's shape is the target expression's (dlib landmarks), not the input's.
#: * mean-<target> (the average target face of the other people): ``psnr``, and ``id_distance``, still the
#:   same person to dlib's face descriptor, which the average face is not.
CLAIMS = (("identity", "psnr"), ("identity", "landmark_error"), ("mean", "psnr"), ("mean", "id_distance"))
#: Margins: PSNR higher by this many dB; landmark error at most this fraction of the baseline's; identity
#: distance lower by this much (dlib's same-person threshold is 0.6, different people sit near 0.85).
PSNR_MARGIN_DB = 0.2
LANDMARK_RATIO = 0.9
ID_DISTANCE_MARGIN = 0.02

#: Claims a family does not make, and why (a claim it makes and fails belongs in KNOWN_FAILURES instead).
NOT_CLAIMED = {
    ("vae", "identity", "psnr"): "the VAE reconstructs its input through 64 numbers learned from neutral faces: it "
    "cannot redraw an unseen face's pixels closer to its true neutral than the photo itself (a few mouth pixels "
    "apart); against identity it claims the face's shape (landmark_error) instead",
}
#: Claims a family makes and fails with its default recipe on these people, with what was measured (strict:
#: a pass fails the test, so the marker goes when the family learns it).
KNOWN_FAILURES = {
    ("cdcgan", "identity", "psnr"): "the recipe's 5 epochs give noise-sharp faces: PSNR 20.5 (2 threads; 12.7 with "
    "1 thread) vs identity's 32.8 dB",
    ("cdcgan", "identity", "landmark_error"): "landmark error 0.0360 (1 thread: 0.0513) vs identity's 0.0370 (needs "
    "below 0.0333)",
    ("cdcgan", "mean", "psnr"): "PSNR 12.7 vs mean-neutral's 16.4 dB with 1 thread; 20.5 with 2 threads (passes)",
    ("cdcgan", "mean", "id_distance"): "no longer the person to dlib: 0.464 (1 thread: 0.454) vs mean-neutral's "
    "0.355",
    ("twostep", "identity", "psnr"): "it redraws the whole face, blurred: PSNR 24.4 vs identity's 32.8 dB (20 epochs: "
    "27.2)",
    ("twostep", "identity", "landmark_error"): "landmark error 0.0506 vs identity's 0.0370 (20 epochs: 0.0398)",
    ("twostep", "mean", "id_distance"): "to dlib's descriptor it is further from the person than the others' "
    "average face: 0.597 vs mean-neutral's 0.355 (20 epochs: 0.535); PSNR does beat it, 24.4 vs 16.4 dB",
    ("masked-omp", "identity", "landmark_error"): "three taps per pixel keep the input's shape: landmark error "
    "0.0359 vs identity's 0.0370 (needs below 0.0333); PSNR does beat it, 33.8 vs 32.8 dB",
    ("neutralizer", "identity", "landmark_error"): "it beats identity on PSNR (34.3 vs 32.8 dB) but hardly moves "
    "the mouth: landmark error 0.0358 vs identity's 0.0370 (needs below 0.0333)",
    ("vae", "identity", "landmark_error"): "the recipe's 5 epochs leave its reconstructions too blurred for the "
    "neutral shape to show: landmark error 0.0584 vs identity's 0.0370",
    ("vae", "mean", "id_distance"): "to dlib's descriptor its blurred reconstructions are further from the person "
    "than the others' average face: 0.690 vs mean-neutral's 0.355 (PSNR does beat it, 21.1 vs 16.4 dB)",
    ("ssvae", "identity", "psnr"): "the paper's latent is the class layer (one axis per expression, here one number): "
    "it cannot carry the person; PSNR 13.1 vs identity's 32.8 dB",
    ("ssvae", "identity", "landmark_error"): "landmark error 0.103 vs identity's 0.0370",
    ("ssvae", "mean", "psnr"): "PSNR 13.1 vs mean-neutral's 16.4 dB",
    ("ssvae", "mean", "id_distance"): "not the person to dlib: 0.762 vs mean-neutral's 0.355",
    ("nfgan", "identity", "psnr"): "decoded from a 256-number code, the recipe's 5 epochs redraw the face: PSNR "
    "18.8 vs identity's 32.8 dB (it does beat mean-neutral's 16.4)",
    ("nfgan", "identity", "landmark_error"): "landmark error 0.0446 vs identity's 0.0370",
    ("nfgan", "mean", "id_distance"): "no longer the person to dlib: 0.496 vs mean-neutral's 0.355",
}


#: Known failures whose margin a GAN's training crosses or not with the thread count (the order of floating-point
#: sums changes its adversarial steps): not strict, so the suite holds with OMP_NUM_THREADS=1 and 2 alike.
#: cdcgan against mean-neutral on PSNR: 20.5 dB with 2 threads (passes), 12.7 with 1 thread (fails).
THREAD_SENSITIVE = {("cdcgan", "mean", "psnr")}


def _claim_params() -> list[Any]:
    """One pytest param per (family, baseline, metric) of every registered recipe; the baselines skipped."""
    params = []
    for family in sorted(RECIPES):
        if family in BASELINE_FAMILIES:
            params.append(pytest.param(family, None, None, id=family,
                                       marks=pytest.mark.skip(reason=BASELINE_FAMILIES[family])))
            continue
        for baseline, metric in CLAIMS:
            if (family, baseline, metric) in NOT_CLAIMED:
                continue
            marks = ()
            reason = KNOWN_FAILURES.get((family, baseline, metric))
            if reason:
                strict = (family, baseline, metric) not in THREAD_SENSITIVE
                marks = (pytest.mark.xfail(reason=reason, strict=strict, raises=AssertionError),)
            params.append(pytest.param(family, baseline, metric, id=f"{family}-{baseline}-{metric}", marks=marks))
    return params


@pytest.fixture(scope="module")
def people(tmp_path_factory) -> dict[str, Any]:
    """Raw synthetic faces of the training people and of the held-out people, the judges, and caches."""
    root = tmp_path_factory.mktemp("learning")
    generate_dataset(root / "raw-train", n_subjects=TRAIN_PEOPLE, expressions=EXPRESSIONS, size=160, seed=21)
    generate_dataset(root / "raw-held", n_subjects=HELD_OUT_PEOPLE, expressions=EXPRESSIONS, size=160, seed=22)
    return {"root": root, "judges": Judges.default(), "prepared": {}, "baselines": {}, "scores": {}}


def _prepared(people: dict[str, Any], size: int) -> tuple[PreparedDataset, PreparedDataset]:
    """The training folder (train/val) and the held-out folder (test only) at ``size`` px, prepared once."""
    if size not in people["prepared"]:
        root = people["root"]
        prepare_dataset(root / "raw-train", root / f"train{size}", PrepareOptions(size=size, split_ratios=(0.85, 0.15, 0)))
        prepare_dataset(root / "raw-held", root / f"held{size}", PrepareOptions(size=size, split_only="test"))
        train, held = PreparedDataset(root / f"train{size}"), PreparedDataset(root / f"held{size}")
        assert set(train.splits) == {"train", "val"} and held.splits == ["test"]
        people["prepared"][size] = train, held
    return people["prepared"][size]


def _summary(model: FaceModel, held: PreparedDataset, items: list, scorer: Scorer) -> dict[str, float]:
    """``model``'s outputs on the items (each through ``predict_held_out``), scored."""
    outputs, _ = run_model(model, held, items)
    return scorer.score(outputs)[1]


def _scores(people: dict[str, Any], family: str) -> dict[str, dict[str, float]]:
    """The family fitted with its recipe and scored beside both baselines on the held-out people (once)."""
    if family not in people["scores"]:
        train, held = _prepared(people, SIZES.get(family, DEFAULT_SIZE))
        torch.manual_seed(0)
        model = fit_family(family, train, "train")
        assert model.channels == 3, "the synthetic faces are RGB"
        items = evaluation_items(held.select("test"), model.target_expression, model.source_expressions,
                                 shots=model.max_inputs)
        assert len(items) == HELD_OUT_PEOPLE, f"{family}: {len(items)} items; its task needs other EXPRESSIONS"
        key = (model.size, model.target_expression, tuple((*(r.path for r in i.inputs), i.target.path) for i in items))
        if key not in people["baselines"]:
            targets = to_uint8(resize_to(torch.stack([held.load(i.target) for i in items]), model.size))
            scorer = Scorer(targets, [i.key for i in items], model.target_expression, people["judges"])
            identity = resolve_model("identity", held, "test", model.size)
            mean = resolve_model(f"mean-{model.target_expression}", held, "test", model.size)
            assert mean.loso, "the held-out folder has no training split: the mean face leaves each person out"
            people["baselines"][key] = scorer, {
                "identity": _summary(identity, held, items, scorer), "mean": _summary(mean, held, items, scorer)}
        scorer, baselines = people["baselines"][key]
        people["scores"][family] = {"model": _summary(model, held, items, scorer), **baselines}
    return people["scores"][family]


#: Whether the claim holds: (ours, the baseline's) -> bool, with the margins above.
BEATS = {
    "psnr": lambda ours, theirs: ours > theirs + PSNR_MARGIN_DB,
    "landmark_error": lambda ours, theirs: ours < LANDMARK_RATIO * theirs,
    "id_distance": lambda ours, theirs: ours < theirs - ID_DISTANCE_MARGIN,
}


@pytest.mark.parametrize("family, baseline, metric", _claim_params())
def test_family_beats_the_baseline_on_held_out_people(people, family, baseline, metric):
    scores = _scores(people, family)
    ours, theirs = scores["model"][metric], scores[baseline][metric]
    assert BEATS[metric](ours, theirs), f"{family} {metric} {ours:.4g} vs {baseline} {theirs:.4g}"


def test_every_claim_is_checked_in_the_direction_the_metric_improves():
    """The margins above go the way facexpr's metrics say is better (higher PSNR, lower errors)."""
    for metric, beats in BEATS.items():
        better, worse = (2.0, 1.0) if METRICS[metric] else (1.0, 2.0)
        assert beats(better, worse) and not beats(worse, better), metric
