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
