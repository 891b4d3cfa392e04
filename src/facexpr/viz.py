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
