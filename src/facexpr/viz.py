"""Pictures for people: contact sheets of face crops with optional landmark overlays."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Return a uint8 (H, W, 3) copy of a grey or RGB image."""
    image = np.asarray(image, dtype=np.uint8)
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image.copy()


def draw_landmarks(image: np.ndarray, landmarks: np.ndarray, colour=(0, 255, 0), radius: float = 1.0) -> np.ndarray:
    """Overlay landmark points on a copy of ``image`` (to check alignment by eye)."""
    canvas = Image.fromarray(as_rgb(image))
    draw = ImageDraw.Draw(canvas)
    for x, y in np.asarray(landmarks, dtype=float):
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    return np.asarray(canvas)


def contact_sheet(
    cells: Sequence[Sequence[np.ndarray | None]],
    row_labels: Sequence[str] = (),
    column_labels: Sequence[str] = (),
    cell_size: int = 96,
    padding: int = 4,
) -> np.ndarray:
    """Tile images into a labelled grid (rows x columns); ``None`` cells stay blank.

    Every image is resized to ``cell_size`` so crops of any size can be mixed.
    """
    rows = len(cells)
    columns = max((len(row) for row in cells), default=0)
    font = ImageFont.load_default()
    label_width = 8 + max((int(font.getlength(label)) for label in row_labels), default=0)
    header = 18 if column_labels else 0
    step = cell_size + padding
    sheet = Image.new("RGB", (label_width + columns * step + padding, header + rows * step + padding), "white")
    draw = ImageDraw.Draw(sheet)
    for c, label in enumerate(column_labels):
        draw.text((label_width + padding + c * step, 3), label, fill="black", font=font)
    for r, row in enumerate(cells):
        top = header + padding + r * step
        if r < len(row_labels):
            draw.text((4, top + cell_size // 2 - 6), row_labels[r], fill="black", font=font)
        for c, image in enumerate(row):
            if image is None:
                continue
            tile = Image.fromarray(as_rgb(image)).resize((cell_size, cell_size), Image.Resampling.LANCZOS)
            sheet.paste(tile, (label_width + padding + c * step, top))
    return np.asarray(sheet)


def draw_landmark_moves(image: np.ndarray, start: np.ndarray, end: np.ndarray, scale: int = 3) -> np.ndarray:
    """``image`` enlarged ``scale`` times with a line from each ``start`` landmark (green) to its ``end`` (red):
    where a model moves the landmarks. Points are pixel coordinates of ``image`` (pixel centres at integers)."""
    size = (image.shape[1] * scale, image.shape[0] * scale)
    canvas = Image.fromarray(as_rgb(image)).resize(size, Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(canvas)
    to_canvas = lambda p: ((p[0] + 0.5) * scale - 0.5, (p[1] + 0.5) * scale - 0.5)  # noqa: E731
    for a, b in zip(np.asarray(start, float), np.asarray(end, float)):
        (ax, ay), (bx, by) = to_canvas(a), to_canvas(b)
        draw.line((ax, ay, bx, by), fill=(255, 230, 0), width=1)
        draw.ellipse((ax - 1.5, ay - 1.5, ax + 1.5, ay + 1.5), fill=(0, 220, 0))
        draw.ellipse((bx - 1.5, by - 1.5, bx + 1.5, by + 1.5), fill=(255, 40, 40))
    return np.asarray(canvas)


def displacement_map(image: np.ndarray, magnitude: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """The grey ``image`` tinted by a per-pixel ``magnitude`` (e.g. pixels a warp moved): magma colours,
    0 transparent, ``vmax`` (default the maximum) fully coloured."""
    from matplotlib import colormaps

    grey = as_rgb(image).mean(axis=2, keepdims=True)
    peak = float(vmax if vmax is not None else max(float(np.max(magnitude)), 1e-6))
    level = np.clip(np.asarray(magnitude, float) / peak, 0, 1)
    colour = colormaps["magma"](level)[..., :3] * 255
    alpha = np.sqrt(level)[..., None]
    return np.clip((1 - alpha) * grey + alpha * colour, 0, 255).astype(np.uint8)


def expression_colours(labels: Sequence[str]) -> dict[str, tuple[float, float, float, float]]:
    """Label -> an RGBA colour of matplotlib's tab10, assigned in sorted label order, so that every plot of the
    same expressions (t-SNE maps, latent distributions) colours each one alike."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {label: cmap(i % 10) for i, label in enumerate(sorted(set(labels)))}


def new_figure(width: float, height: float, dpi: int = 100):
    """A matplotlib :class:`~matplotlib.figure.Figure` of ``width`` x ``height`` inches on an Agg canvas: no
    pyplot, so no global figure state and no GUI backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def figure_pixels(figure) -> np.ndarray:
    """A figure of :func:`new_figure` drawn as a uint8 RGB array (H, W, 3), ready for an atomic image write."""
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[:, :, :3].copy()


def medians_by_label(values: np.ndarray, labels: Sequence[str], order: Sequence[str]) -> np.ndarray:
    """The median of each column of ``values`` (n, A) over the rows of each label of ``order``: (len(order), A),
    NaN for a label without rows."""
    values, labels = np.asarray(values, dtype=np.float64), np.asarray(labels)
    return np.array([np.median(values[labels == label], axis=0) if (labels == label).any()
                     else np.full(values.shape[1], np.nan) for label in order]).reshape(len(order), values.shape[1])


def axis_distribution_plot(values: np.ndarray, labels: Sequence[str], axes: Sequence[str], title: str = "",
                           order: Sequence[str] = ()) -> np.ndarray:
    """The distribution of crops' values on a latent's expression axes, by true expression, as an RGB image.

    ``values`` (n, A) holds each crop's value on the axes ``axes`` (named by their expressions); ``labels``
    its true expression. One panel per axis with a box (and the jittered points) per true expression, the
    axis's own expression filled and 0 marked; a last panel holds the medians (true expression x axis), a
    diagonal when each expression lies along its own axis and neutral near the origin (the emotion-VAE paper's
    Fig. 7/10). Expressions are drawn in ``order`` (default: sorted), those without crops left out.
    """
    values = np.asarray(values, dtype=np.float64)
    labels = list(labels)
    present = set(labels)
    given = [e for e in order if e in present]
    order = given + sorted(present - set(given))
    colours = expression_colours(labels)
    panels = len(axes) + 1
    columns = min(4, panels)
    rows = -(-panels // columns)
    figure = new_figure(max(3.0 * columns, 1.0 + 0.45 * len(order) * columns), 3.0 * rows + 0.6)
    grid = figure.subplots(rows, columns, squeeze=False)
    low, high = (float(values.min()), float(values.max())) if values.size else (-1.0, 1.0)
    pad = 0.05 * max(high - low, 1e-6)
    jitter = np.random.default_rng(0)
    by_label = {e: np.flatnonzero(np.asarray(labels) == e) for e in order}
    for k, axis_name in enumerate(axes):
        panel = grid.flat[k]
        groups = [values[by_label[e], k] for e in order]
        boxes = panel.boxplot(groups, positions=range(len(order)), widths=0.6, patch_artist=True, showfliers=False,
                              medianprops={"color": "black"})
        for expression, box in zip(order, boxes["boxes"]):
            box.set_facecolor((*colours[expression][:3], 0.8 if expression == axis_name else 0.12))
            box.set_edgecolor(colours[expression])
        for i, (expression, group) in enumerate(zip(order, groups)):
            panel.scatter(i + jitter.uniform(-0.2, 0.2, len(group)), group, s=9, color=colours[expression],
                          alpha=0.6, linewidths=0)
        panel.axhline(0.0, color="grey", linewidth=0.8, linestyle="--")
        panel.set_ylim(low - pad, high + pad)
        panel.set_xticks(range(len(order)), order, rotation=45, ha="right", fontsize=8)
        panel.set_title(f"{axis_name} axis", fontsize=10)
        if k % columns == 0:
            panel.set_ylabel("value on the axis")
    table = grid.flat[len(axes)]
    medians = medians_by_label(values, labels, order)
    bound = max(float(np.nanmax(np.abs(medians))) if medians.size else 0.0, 1e-6)
    table.imshow(medians, cmap="coolwarm", vmin=-bound, vmax=bound, aspect="auto")
    for (i, j), median in np.ndenumerate(medians):
        table.text(j, i, f"{median:.1f}", ha="center", va="center", fontsize=7)
    table.set_xticks(range(len(axes)), [f"{a} axis" for a in axes], rotation=45, ha="right", fontsize=8)
    table.set_yticks(range(len(order)), order, fontsize=8)
    table.set_title("median by true expression", fontsize=10)
    for panel in grid.flat[panels:]:
        panel.set_visible(False)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout(rect=(0, 0, 1, 0.96))
    return figure_pixels(figure)
