"""The latent space of a trained model: samples, reconstructions, interpolations and a t-SNE map.

What ``facexpr sample`` and ``facexpr tsne`` run. :class:`LatentSpace` works
with any :class:`~facexpr.models.base.LatentModel`; today two families are:

* ``vae`` (stage 1): crops -> latent mean ``mu(x)`` -> decoder.
* ``neutralizer`` (stage 2): the shared encoder on a single crop, pooled over
  N = 1 and read by its mean head (exactly the latent ``V_R`` the network
  computes for one photo) -> its decoder (the decoded face, before blending).

Only stage 1 was trained with a prior, so :func:`sample_prior` and
:func:`sample_from_noise` take a :class:`~facexpr.models.base.SamplingModel`.
"""

from __future__ import annotations

import csv
import io
import math
import random
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from facexpr.data.pairing import PreparedDataset
from facexpr.data.records import FaceRecord
from facexpr.faces import FacePipeline
from facexpr.io import BadInputError, load_image, write_image_atomic, write_text_atomic
from facexpr.models.base import FaceModel, LatentModel, SamplingModel, resize_to
from facexpr.viz import as_rgb, contact_sheet

Progress = Callable[[int, int, str], None]
#: Crops encoded per forward pass when a whole dataset is embedded.
ENCODE_BATCH = 64
#: Columns of the t-SNE CSV, one row per crop.
TSNE_COLUMNS = ("path", "subject", "expression", "split", "x", "y")


class LatentSpace:
    """Encode crops to latent means and decode latents to crops with a :class:`LatentModel` (``vae``, ``neutralizer``).

    Raises:
        ValueError: the model has no latent space (a baseline, another family).
    """

    def __init__(self, model: FaceModel):
        if not isinstance(model, LatentModel):
            raise ValueError(f"this model cannot encode faces to a latent space (family {model.family})")
        self.model = model
        self.size = model.size
        self.channels = model.channels

    def encode(self, crops: torch.Tensor) -> torch.Tensor:
        """Latent means (B, D) of crops (B, C, H, W) in [0, 1] (resized to the model's size), on the CPU."""
        return self.model.encode(crops.to(self.model.device)).cpu()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Crops (B, C, S, S) in [0, 1] from latents (B, D), on the CPU."""
        return self.model.decode(z.to(self.model.device)).cpu()

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

    def encode_records(
        self, prepared: PreparedDataset, records: Sequence[FaceRecord], progress: Progress | None = None
    ) -> np.ndarray:
        """Latent means (n, D) of the records' crops, in order, encoded in batches of :data:`ENCODE_BATCH`."""
        means = []
        for start in range(0, len(records), ENCODE_BATCH):
            batch = records[start:start + ENCODE_BATCH]
            means.append(self.encode(torch.stack([self.load_crop(prepared, r) for r in batch])))
            if progress:
                progress(start + len(batch), len(records), Path(batch[-1].path).name)
        return torch.cat(means).numpy()

    def load_crop(self, prepared: PreparedDataset, record: FaceRecord) -> torch.Tensor:
        """A prepared crop (C, H, W) in [0, 1] in the model's colour mode (grey <-> RGB converted)."""
        crop = prepared.load(record)
        if crop.shape[0] == self.channels:
            return crop
        return crop.mean(0, keepdim=True) if self.channels == 1 else crop.expand(3, -1, -1)


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

    n = len(latents)
    if n < 2:
        raise ValueError(f"t-SNE needs at least 2 crops, got {n}")
    tsne = TSNE(n_components=2, perplexity=min(perplexity, n - 1), init="pca", learning_rate="auto",
                random_state=seed)
    return tsne.fit_transform(np.asarray(latents, dtype=np.float64)).astype(np.float32)


def tsne_csv(records: Sequence[FaceRecord], coords: np.ndarray) -> str:
    """The CSV text of :data:`TSNE_COLUMNS`: one row per record with its 2-D coordinates."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TSNE_COLUMNS)
    for record, (x, y) in zip(records, coords):
        writer.writerow([record.path, record.subject, record.expression, record.split, f"{x:.6g}", f"{y:.6g}"])
    return buffer.getvalue()


def tsne_plot(coords: np.ndarray, thumbnails: Sequence[np.ndarray], expressions: Sequence[str],
              title: str = "", thumb_pixels: int = 28) -> np.ndarray:
    """The t-SNE map as an RGB image: each face's thumbnail at its point, framed in its expression's colour."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage
    from matplotlib.patches import Patch

    labels = sorted(set(expressions))
    cmap = matplotlib.colormaps["tab10"]
    colours = {label: cmap(i % 10) for i, label in enumerate(labels)}
    figure = Figure(figsize=(10, 10), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.scatter(coords[:, 0], coords[:, 1], s=4, c=[colours[e] for e in expressions])
    for (x, y), thumb, expression in zip(coords, thumbnails, expressions):
        image = OffsetImage(as_rgb(thumb), zoom=thumb_pixels / thumb.shape[0])
        axes.add_artist(AnnotationBbox(image, (x, y), frameon=True, pad=0.15,
                                       bboxprops={"edgecolor": colours[expression], "linewidth": 2}))
    axes.legend(handles=[Patch(facecolor="white", edgecolor=colours[e], linewidth=2, label=e) for e in labels],
                loc="best", fontsize=9)
    axes.margins(0.08)
    axes.set_title(title)
    axes.set_xticks([])
    axes.set_yticks([])
    figure.tight_layout()
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[:, :, :3].copy()


def write_tsne(space: LatentSpace, prepared: PreparedDataset, records: Sequence[FaceRecord], out_png: str | Path,
               out_csv: str | Path, perplexity: float = 30.0, seed: int = 0,
               progress: Progress | None = None) -> np.ndarray:
    """Embed the records' latent means with t-SNE; write the thumbnail map (PNG) and the coordinates (CSV).

    Returns the coordinates (n, 2), in the records' order.

    Raises:
        ValueError: fewer than 2 records.
    """
    if len(records) < 2:
        raise ValueError(f"t-SNE needs at least 2 crops, got {len(records)}")
    coords = tsne_embedding(space.encode_records(prepared, records, progress), perplexity, seed)
    thumbnails = [to_uint8(prepared.load(r).unsqueeze(0))[0] for r in records]
    title = f"{space.model.name}: t-SNE of {len(records)} latent means"
    write_image_atomic(out_png, tsne_plot(coords, thumbnails, [r.expression for r in records], title))
    write_text_atomic(out_csv, tsne_csv(records, coords))
    return coords
