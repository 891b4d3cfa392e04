"""The latent space of a trained model: samples, reconstructions, interpolations, a t-SNE map and the
distribution along a latent's expression axes.

What ``facexpr sample`` and ``facexpr tsne`` run. What ``facexpr tsne`` maps is
a model's features of crops (:class:`CropFeatures`, chosen by :func:`crop_features`):

* latent means of a :class:`~facexpr.models.base.LatentModel` (:class:`LatentSpace`): ``vae`` (stage 1:
  crops -> ``mu(x)`` -> decoder), ``neutralizer`` (stage 2: the shared encoder on a single crop, pooled
  over N = 1 and read by its mean head, exactly the latent ``V_R`` the network computes for one photo),
  and the other encoding families;
* the F100 layer of the expression CNN (:class:`LayerFeatures`), the emotion-VAE paper's t-SNE map;
* with ``--axes``, the value on each expression's axis of a
  :class:`~facexpr.models.emotion.traverse.Traversable` model (:class:`AxisFeatures`: the SS-VAE's latent
  means on its class axes, the Fader's attributes), drawn per true expression (the paper's Fig. 7/10).

Only stage 1 was trained with a prior, so :func:`sample_prior` and
:func:`sample_from_noise` take a :class:`~facexpr.models.base.SamplingModel`.
"""

from __future__ import annotations

import csv
import io
import math
import random
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import numpy as np
import torch

from facexpr.data.pairing import PreparedDataset
from facexpr.data.records import FaceRecord
from facexpr.faces import FacePipeline
from facexpr.io import BadInputError, load_image, write_image_atomic, write_text_atomic
from facexpr.models.base import (
    MODEL_FAMILIES,
    FaceModel,
    LatentModel,
    SamplingModel,
    load_model,
    read_model_config,
    read_model_tensors,
    resize_to,
)
from facexpr.models.emotion.traverse import Traversable
from facexpr.viz import (
    as_rgb,
    axis_distribution_plot,
    contact_sheet,
    expression_colours,
    figure_pixels,
    new_figure,
)

Progress = Callable[[int, int, str], None]
#: Crops encoded per forward pass when a whole dataset is embedded.
ENCODE_BATCH = 64
#: The columns every per-crop CSV starts with (then the crop's values: x, y or one per axis).
RECORD_COLUMNS = ("path", "subject", "expression", "split")
#: Columns of the t-SNE CSV, one row per crop.
TSNE_COLUMNS = (*RECORD_COLUMNS, "x", "y")


@runtime_checkable
class LayerModel(Protocol):
    """A model with a feature layer worth mapping (the expression CNN's F100): ``features(crops) -> (B, F)``."""

    size: int
    channels: int
    family: str

    def features(self, crops: torch.Tensor) -> torch.Tensor:
        """The layer's activations (B, F) of crops (B, C, H, W) in [0, 1]."""


class CropFeatures:
    """A model's vectors of crops, whatever they are (latent means, a layer's activations, axis values).

    Attributes:
        model: the model the vectors come from.
        size, channels: the crops the model reads (others are resized and converted).
        kind: what the vectors are, for titles ("latent means", "F100 features", ...).
        name: the model's name for titles (its family when it has no name).
    """

    kind = "features"

    def __init__(self, model: Any):
        self.model = model
        self.size = model.size
        self.channels = model.channels
        self.name = getattr(model, "name", model.family)

    def vectors(self, crops: torch.Tensor) -> torch.Tensor:
        """The vectors (B, D) of crops (B, C, H, W) in [0, 1], on the CPU."""
        raise NotImplementedError

    def vectors_of_records(
        self, prepared: PreparedDataset, records: Sequence[FaceRecord], progress: Progress | None = None
    ) -> np.ndarray:
        """The vectors (n, D) of the records' crops, in order, computed in batches of :data:`ENCODE_BATCH`."""
        vectors = []
        for start in range(0, len(records), ENCODE_BATCH):
            batch = records[start:start + ENCODE_BATCH]
            vectors.append(self.vectors(torch.stack([self.load_crop(prepared, r) for r in batch])))
            if progress:
                progress(start + len(batch), len(records), Path(batch[-1].path).name)
        return torch.cat(vectors).numpy()

    def load_crop(self, prepared: PreparedDataset, record: FaceRecord) -> torch.Tensor:
        """A prepared crop (C, H, W) in [0, 1] in the model's colour mode (grey <-> RGB converted)."""
        crop = prepared.load(record)
        if crop.shape[0] == self.channels:
            return crop
        return crop.mean(0, keepdim=True) if self.channels == 1 else crop.expand(3, -1, -1)


class LayerFeatures(CropFeatures):
    """The activations of a :class:`LayerModel`'s feature layer: the expression CNN's F100."""

    def __init__(self, model: LayerModel):
        super().__init__(model)
        self.kind = f"F{model.features(torch.zeros(1, model.channels, model.size, model.size)).shape[1]} features"

    @torch.no_grad()
    def vectors(self, crops: torch.Tensor) -> torch.Tensor:
        """The layer's activations (B, F) of crops (B, C, H, W), on the CPU."""
        return self.model.features(crops).cpu()


class AxisFeatures(CropFeatures):
    """The value of crops on each expression's axis of a :class:`Traversable` model's latent (the SS-VAE's
    latent means on its class axes, the Fader's attributes), in the order of :attr:`axes`.

    Raises:
        ValueError: a model without expression axes (naming the families that have them).
    """

    kind = "values on each expression's latent axis"

    def __init__(self, model: Any):
        if not isinstance(model, Traversable):
            families = ", ".join(sorted(f for f, cls in MODEL_FAMILIES.items() if issubclass(cls, Traversable)))
            raise ValueError(f"this model has no expression axes in its latent (family {model.family}); "
                             f"--axes takes {families} models")
        super().__init__(model)
        self.axes: tuple[str, ...] = tuple(model.traversable)

    @torch.no_grad()
    def vectors(self, crops: torch.Tensor) -> torch.Tensor:
        """Each crop's value on each expression's axis (B, A), on the CPU."""
        return self.model.latent_attributes(crops.to(self.model.device))[1].cpu()


class LatentSpace(CropFeatures):
    """Encode crops to latent means and decode latents to crops with a :class:`LatentModel` (``vae``,
    ``neutralizer``, ...); its vectors are the latent means.

    Raises:
        ValueError: the model has no latent space (a baseline, another family).
    """

    kind = "latent means"

    def __init__(self, model: FaceModel):
        if not isinstance(model, LatentModel):
            raise ValueError(f"this model cannot encode faces to a latent space (family {model.family})")
        super().__init__(model)

    def encode(self, crops: torch.Tensor) -> torch.Tensor:
        """Latent means (B, D) of crops (B, C, H, W) in [0, 1] (resized to the model's size), on the CPU."""
        return self.model.encode(crops.to(self.model.device)).cpu()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Crops (B, C, S, S) in [0, 1] from latents (B, D), on the CPU."""
        return self.model.decode(z.to(self.model.device)).cpu()

    def vectors(self, crops: torch.Tensor) -> torch.Tensor:
        """The latent means (B, D) of crops, on the CPU (:meth:`encode`)."""
        return self.encode(crops)

    def reconstruct(self, crops: torch.Tensor) -> torch.Tensor:
        """``decode(mu(x))`` for crops (B, C, H, W): what the latent space keeps of each face."""
        return self.decode(self.encode(crops))

    def interpolate(self, first: torch.Tensor, second: torch.Tensor, steps: int) -> torch.Tensor:
        """``steps`` faces (steps, C, S, S) decoded along the straight line from ``mu(first)`` to ``mu(second)``.

        ``first`` and ``second`` are single crops (C, H, W); the first and last
        faces are ``decode(mu(first))`` and ``decode(mu(second))``.

        Raises:
            ValueError: fewer than 2 steps.
        """
        if steps < 2:
            raise ValueError(f"interpolation needs at least 2 steps, got {steps}")
        ends = self.encode(torch.stack([first, second]))
        t = torch.linspace(0, 1, steps).unsqueeze(1)
        return self.decode((1 - t) * ends[0] + t * ends[1])


def sample_prior(model: SamplingModel, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` faces (n, C, S, S) decoded from ``z ~ N(0, I)``, on the CPU; the same seed gives the same faces."""
    return model.sample(n, generator=torch.Generator().manual_seed(seed)).cpu()


def sample_from_noise(model: SamplingModel, n: int, seed: int = 0) -> torch.Tensor:
    """The thesis' check: ``n`` uniform-noise images encoded (latent mean) and decoded, (n, C, S, S)."""
    noise = torch.rand(n, model.channels, model.size, model.size, generator=torch.Generator().manual_seed(seed))
    return LatentSpace(model).reconstruct(noise)


def load_face(path: str | Path, size: int, channels: int, align: bool | None = None) -> torch.Tensor:
    """One face as (C, size, size) in [0, 1] from an aligned crop or a raw photo.

    ``align`` None decides by shape: square images are taken as aligned crops
    (as ``facexpr prepare`` writes them) and resized; other images go through
    :class:`facexpr.faces.FacePipeline` at ``size`` (largest face).

    Raises:
        BadInputError: unreadable image, or no face found in a photo to align.
    """
    grey = channels == 1
    image = load_image(path, grey=grey)
    if align or (align is None and image.shape[0] != image.shape[1]):
        pipeline = FacePipeline(size=size, grey=grey)
        faces = pipeline.process(image)
        if not faces:
            raise BadInputError(path, f"no face found ({pipeline.describe_search()})")
        image = faces[0].image
    array = image[:, :, None] if image.ndim == 2 else image
    crop = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).float() / 255.0
    return resize_to(crop, size)


def to_uint8(images: torch.Tensor) -> list[np.ndarray]:
    """Crops (B, C, S, S) in [0, 1] -> a list of uint8 (S, S, 3) or (S, S) arrays."""
    arrays = (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return [a[:, :, 0] if a.shape[2] == 1 else a for a in arrays]


def grid(images: torch.Tensor, columns: int | None = None, cell_size: int = 64) -> np.ndarray:
    """Crops (B, C, S, S) tiled row by row into one RGB image (``columns`` default: about sqrt(B))."""
    faces = to_uint8(images)
    columns = columns or max(1, math.ceil(math.sqrt(len(faces))))
    rows = [faces[i:i + columns] for i in range(0, len(faces), columns)]
    return contact_sheet(rows, cell_size=cell_size)


def pick_records(records: Sequence[FaceRecord], n: int, seed: int = 0) -> list[FaceRecord]:
    """``n`` records drawn with ``seed`` (all when there are fewer), kept in manifest order."""
    if len(records) <= n:
        return list(records)
    chosen = set(random.Random(seed).sample(range(len(records)), n))
    return [r for i, r in enumerate(records) if i in chosen]


def tsne_embedding(latents: np.ndarray, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """2-D t-SNE coordinates (n, 2) of latent vectors (n, D); perplexity clipped to n - 1.

    Raises:
        ValueError: fewer than 2 vectors.
    """
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    n = len(latents)
    if n < 2:
        raise ValueError(f"t-SNE needs at least 2 crops, got {n}")
    tsne = TSNE(n_components=2, perplexity=min(perplexity, n - 1), init="pca", learning_rate="auto",
                random_state=seed)
    # One thread: after torch has run, scikit-learn's OpenMP threads compete with torch's spinning ones (a map
    # of 12 crops took 7 to 44 s on 2 busy cores instead of 0.1 s).
    with threadpool_limits(1):
        return tsne.fit_transform(np.asarray(latents, dtype=np.float64)).astype(np.float32)


def records_csv(records: Sequence[FaceRecord], columns: Sequence[str], values: np.ndarray) -> str:
    """CSV text with :data:`RECORD_COLUMNS` and then ``columns``: one row per record, its values (n, len(columns))."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow((*RECORD_COLUMNS, *columns))
    for record, row in zip(records, np.asarray(values)):
        writer.writerow([record.path, record.subject, record.expression, record.split, *(f"{v:.6g}" for v in row)])
    return buffer.getvalue()


def tsne_csv(records: Sequence[FaceRecord], coords: np.ndarray) -> str:
    """The CSV text of :data:`TSNE_COLUMNS`: one row per record with its 2-D coordinates."""
    return records_csv(records, TSNE_COLUMNS[len(RECORD_COLUMNS):], coords)


def tsne_plot(coords: np.ndarray, thumbnails: Sequence[np.ndarray], expressions: Sequence[str],
              title: str = "", thumb_pixels: int = 28) -> np.ndarray:
    """The t-SNE map as an RGB image: each face's thumbnail at its point, framed in its expression's colour."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage
    from matplotlib.patches import Patch

    colours = expression_colours(expressions)
    figure = new_figure(10, 10)
    axes = figure.add_subplot()
    axes.scatter(coords[:, 0], coords[:, 1], s=4, c=[colours[e] for e in expressions])
    for (x, y), thumb, expression in zip(coords, thumbnails, expressions):
        image = OffsetImage(as_rgb(thumb), zoom=thumb_pixels / thumb.shape[0])
        axes.add_artist(AnnotationBbox(image, (x, y), frameon=True, pad=0.15,
                                       bboxprops={"edgecolor": colours[expression], "linewidth": 2}))
    axes.legend(handles=[Patch(facecolor="white", edgecolor=colours[e], linewidth=2, label=e) for e in colours],
                loc="best", fontsize=9)
    axes.margins(0.08)
    axes.set_title(title)
    axes.set_xticks([])
    axes.set_yticks([])
    figure.tight_layout()
    return figure_pixels(figure)


def write_tsne(features: CropFeatures, prepared: PreparedDataset, records: Sequence[FaceRecord],
               out_png: str | Path, out_csv: str | Path, perplexity: float = 30.0, seed: int = 0,
               progress: Progress | None = None) -> np.ndarray:
    """Embed the records' vectors (``features``: latent means, F100 activations, ...) with t-SNE; write the
    thumbnail map (PNG) and the coordinates (CSV).

    Returns the coordinates (n, 2), in the records' order.

    Raises:
        ValueError: fewer than 2 records.
    """
    if len(records) < 2:
        raise ValueError(f"t-SNE needs at least 2 crops, got {len(records)}")
    coords = tsne_embedding(features.vectors_of_records(prepared, records, progress), perplexity, seed)
    thumbnails = [to_uint8(prepared.load(r).unsqueeze(0))[0] for r in records]
    title = f"{features.name}: t-SNE of {len(records)} {features.kind}"
    write_image_atomic(out_png, tsne_plot(coords, thumbnails, [r.expression for r in records], title))
    write_text_atomic(out_csv, tsne_csv(records, coords))
    return coords


def write_axis_distribution(features: AxisFeatures, parts: Sequence[tuple[PreparedDataset, Sequence[FaceRecord]]],
                            out_png: str | Path, out_csv: str | Path | None = None, crops: str = "",
                            progress: Progress | None = None) -> np.ndarray:
    """Draw the distribution of the crops' values on each expression's axis by true expression (the
    emotion-VAE paper's Fig. 7/10: each expression along its own axis, neutral near the origin) and write it
    (PNG); with ``out_csv``, also one row per crop with its value on every axis.

    ``parts`` are the crops to draw, (prepared folder, records) pairs; ``crops`` says in the title which they
    are (e.g. "held-out people: test of frl128"). Returns the values (n, A), in the parts' record order.

    Raises:
        ValueError: no crops.
    """
    records = [record for _, chosen in parts for record in chosen]
    if not records:
        raise ValueError("the latent distribution needs at least 1 crop, got none")
    values = np.concatenate([features.vectors_of_records(prepared, chosen, progress)
                             for prepared, chosen in parts if chosen])
    labels = [r.expression for r in records]
    title = f"{features.name}: {len(records)} crops{f' ({crops})' if crops else ''}, {features.kind}"
    order = getattr(features.model, "classes", ())
    write_image_atomic(out_png, axis_distribution_plot(values, labels, features.axes, title, order))
    if out_csv is not None:
        write_text_atomic(out_csv, records_csv(records, features.axes, values))
    return values


def crop_features(model: Any) -> CropFeatures:
    """What ``facexpr tsne`` maps of a model: the latent means of a latent model, else the feature layer of a
    model that has one (the expression CNN's F100).

    Raises:
        ValueError: a model with neither (naming its family).
    """
    if isinstance(model, LatentModel):
        return LatentSpace(model)
    if isinstance(model, LayerModel):
        return LayerFeatures(model)
    raise ValueError(f"this model cannot encode faces to a latent space or a feature layer (family {model.family})")


def load_any_model(path: str | Path) -> Any:
    """A saved model folder of any family: a :class:`~facexpr.models.base.FaceModel`, or a family that only
    classifies (the expression CNN, which :func:`~facexpr.models.base.load_model` does not know).

    Raises:
        BadInputError: not a model folder, unreadable files or an unknown family.
    """
    from facexpr.models.classifiers import CLASSIFIER_FAMILIES

    config = read_model_config(path)
    if config.get("family") in CLASSIFIER_FAMILIES:
        return CLASSIFIER_FAMILIES[config["family"]](config, read_model_tensors(path))
    return load_model(path)
