"""Reading images defensively and writing files atomically.

Every dataset in the field has a few broken files: truncated JPEGs, 16-bit
PNGs, palette GIFs, RGBA scans, files that are not images at all. ``load_image``
turns each of them into an 8-bit RGB (or grey) array or raises a
:class:`BadInputError` whose message is one line naming the file and the reason,
so that callers can skip the file and keep going. ``write_*_atomic`` write to a
temporary file in the same folder and rename it into place, so an interrupted
run never leaves a half-written crop or manifest behind.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: Largest image accepted, in pixels (a 12,000 x 8,000 photo is 96 MP).
DEFAULT_MAX_PIXELS = 100_000_000


class BadInputError(ValueError):
    """An input file that cannot be used, with a one-line reason.

    ``str(error)`` reads ``"<path>: <reason>"``.
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = " ".join(str(reason).split())  # always one line
        super().__init__(f"{self.path}: {self.reason}")


def file_sha256(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes: the key of the prepare cache and of duplicate detection."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _to_8bit(image: Image.Image) -> Image.Image:
    """Convert high-bit-depth grey modes (I;16, I, F) to 8-bit L by scaling to their range."""
    array = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16") or (image.mode == "I" and array.max(initial=0) > 255):
        top = 65535.0 if array.max(initial=0) <= 65535 else float(array.max())
        array = array / top * 255.0
    elif image.mode == "F":
        low, high = float(array.min(initial=0)), float(array.max(initial=0))
        if high <= 1.0 and low >= 0.0:
            array = array * 255.0
        elif high > low:
            array = (array - low) / (high - low) * 255.0
    return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8), mode="L")


def _flatten_alpha(image: Image.Image, background: int = 255) -> Image.Image:
    """Composite an image with transparency onto a plain background and return RGB."""
    rgba = image.convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, (background, background, background, 255))
    canvas.alpha_composite(rgba)
    return canvas.convert("RGB")


def load_image(
    path: str | os.PathLike,
    *,
    grey: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Read any common image file as uint8 RGB (H, W, 3) or grey (H, W).

    Honours EXIF orientation, converts 16-bit and float images to 8 bits,
    flattens RGBA / palette transparency onto white, and refuses decompression
    bombs (more than ``max_pixels`` pixels) before decoding them.

    Raises:
        BadInputError: the file is missing, not an image, truncated, too large
            or in a mode that cannot be converted.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "no such file")
    if path.stat().st_size == 0:
        raise BadInputError(path, "empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                width, height = opened.size
                if width * height > max_pixels:
                    raise BadInputError(
                        path,
                        f"image too large ({width}x{height} = {width * height:,} pixels, "
                        f"limit {max_pixels:,}; possible decompression bomb)",
                    )
                opened.load()
                image = ImageOps.exif_transpose(opened)
                image.load()
    except BadInputError:
        raise
    except UnidentifiedImageError:
        raise BadInputError(path, "not an image file (format not recognised)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise BadInputError(path, f"possible decompression bomb ({error})") from None
    except OSError as error:
        text = str(error)
        if "truncated" in text.lower():
            reason = "truncated image file"
        else:
            reason = f"cannot decode image ({text})"
        raise BadInputError(path, reason) from None
    except (ValueError, SyntaxError, MemoryError) as error:
        raise BadInputError(path, f"cannot decode image ({error})") from None

    if image.width == 0 or image.height == 0:
        raise BadInputError(path, "image has zero width or height")
    try:
        if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
            image = _to_8bit(image)
        if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
            image.mode == "P" and "transparency" in image.info
        ):
            image = _flatten_alpha(image)
        image = image.convert("L" if grey else "RGB")
    except (ValueError, OSError) as error:
        raise BadInputError(path, f"unsupported image mode {image.mode!r} ({error})") from None
    return np.asarray(image, dtype=np.uint8).copy()


def _umask() -> int:
    """The process's file-creation mask (read by setting it, then restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write bytes to ``path`` through a temporary file and an atomic rename.

    The file gets the permissions a plain ``open(path, "w")`` would give
    (``mkstemp`` alone makes it readable by its owner only).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text so that readers see either the old file or the whole new one."""
    write_bytes_atomic(Path(path), text.encode("utf-8"))


def write_image_atomic(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write a uint8 RGB (H, W, 3) or grey (H, W) array; the format follows the suffix."""
    path = Path(path)
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise TypeError(f"write_image_atomic expects uint8, got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    buffer = io.BytesIO()
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}
    Image.fromarray(array).save(buffer, format=fmt.get(path.suffix.lower(), "PNG"))
    write_bytes_atomic(path, buffer.getvalue())
