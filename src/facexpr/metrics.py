"""Pixel metrics of generated faces against their targets, on 8-bit images as written to disk.

Every function takes uint8 images: one (H, W) grey or (H, W, C) colour image
(C = 1, 3 or 4), or a batch (B, H, W) / (B, H, W, C). A 3-D array whose last
axis is 1, 3 or 4 is one colour image; any other 3-D array is a batch of grey
images. Metrics are computed on the pixels as they would be stored (uint8),
so an evaluation scores exactly what a user sees, rounding included; [0, 1]
values are ``pixels / 255``. A single image gives a float, a batch a (B,)
float64 array with one value per image (average these yourself: the mean of
per-image PSNRs is the usual report).

* :func:`mse` (on [0, 1]) and :func:`mse_255` (on 0-255; ``mse * 255**2``);
* :func:`psnr`: ``10 log10(1 / mse)`` with data range 1 (the same number as
  with range 255 on 0-255 pixels); ``inf`` for identical images;
* :func:`ssim`: torchmetrics' Gaussian-window SSIM (11 x 11, sigma 1.5,
  K1 = 0.01, K2 = 0.03, data range 1), averaged over channels and pixels;
* :func:`laplacian_variance` and :func:`sharpness_ratio`: blur, the known
  weakness of VAE outputs, as the variance of the grey image's Laplacian
  relative to the target's.

Strict JSON has no Infinity or NaN, yet a perfect output legitimately has
PSNR = inf. :func:`json_safe` (and :func:`finite_or_string` for one number)
writes non-finite floats as the strings ``"inf"``, ``"-inf"`` and ``"nan"``:
any JSON reader accepts them, a human reads them unambiguously, and
``float(value)`` turns them back into numbers. Dropping or clipping such
values would silently change averages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import cv2
import numpy as np
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

#: SSIM window: Gaussian of this standard deviation (pixels); torchmetrics makes it 11 x 11.
SSIM_SIGMA = 1.5
#: SSIM window side (pixels).
SSIM_KERNEL_SIZE = 11
#: Channel counts a 3-D array may end with to count as one colour image rather than a grey batch.
CHANNEL_COUNTS = (1, 3, 4)


def image_batch(images: np.ndarray) -> tuple[np.ndarray, bool]:
    """``images`` as a uint8 (B, H, W, C) batch, and whether it was a single image (see the module
    docstring for the accepted layouts).

    Raises:
        TypeError: not uint8.
        ValueError: not 2-D, 3-D or 4-D, an empty image, or a channel count other than 1, 3, 4.
    """
    array = np.asarray(images)
    if array.dtype != np.uint8:
        raise TypeError(f"metrics take uint8 images as written to disk, got {array.dtype}")
    if array.ndim == 2:
        batch, single = array[None, :, :, None], True
    elif array.ndim == 3 and array.shape[-1] in CHANNEL_COUNTS:
        batch, single = array[None], True
    elif array.ndim == 3:
        batch, single = array[..., None], False
    elif array.ndim == 4:
        batch, single = array, False
    else:
        raise ValueError(f"images must be (H, W), (H, W, C), (B, H, W) or (B, H, W, C), got shape {array.shape}")
    if batch.shape[1] == 0 or batch.shape[2] == 0 or batch.shape[3] not in CHANNEL_COUNTS:
        raise ValueError(f"images must be non-empty with 1, 3 or 4 channels, got shape {array.shape}")
    return batch, single


def _pair(output: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Output and target as matching uint8 (B, H, W, C) batches, and whether they are single images."""
    out, single = image_batch(output)
    tgt, _ = image_batch(target)
    if np.shape(output) != np.shape(target):
        raise ValueError(f"output and target shapes differ: {np.shape(output)} vs {np.shape(target)}")
    return out, tgt, single


def _result(values: np.ndarray, single: bool) -> float | np.ndarray:
    """A float for a single image, the (B,) float64 array for a batch."""
    values = np.asarray(values, dtype=np.float64)
    return float(values[0]) if single else values


def _mse_255(out: np.ndarray, tgt: np.ndarray) -> np.ndarray:
    """(B,) mean squared difference in grey levels of uint8 (B, H, W, C) batches (exact integer sums)."""
    diff = out.astype(np.int64) - tgt.astype(np.int64)
    pixels = int(np.prod(diff.shape[1:]))
    return (diff * diff).reshape(len(diff), pixels).sum(axis=1) / pixels


def mse_255(output: np.ndarray, target: np.ndarray) -> float | np.ndarray:
    """Mean squared error on the 0-255 scale, per image (the unit of most older papers).

    Raises:
        TypeError, ValueError: see :func:`image_batch`; also when shapes differ.
    """
    out, tgt, single = _pair(output, target)
    return _result(_mse_255(out, tgt), single)


def mse(output: np.ndarray, target: np.ndarray) -> float | np.ndarray:
    """Mean squared error of ``pixels / 255`` (the [0, 1] scale), per image: ``mse_255 / 255**2``.

    Raises:
        TypeError, ValueError: see :func:`image_batch`; also when shapes differ.
    """
    out, tgt, single = _pair(output, target)
    return _result(_mse_255(out, tgt) / 255.0**2, single)


def psnr(output: np.ndarray, target: np.ndarray) -> float | np.ndarray:
    """Peak signal-to-noise ratio in dB with data range 1: ``10 log10(1 / mse)``, per image.

    Identical images give ``float('inf')`` (never a crash, a warning or nan);
    :func:`json_safe` writes it as ``"inf"``.

    Raises:
        TypeError, ValueError: see :func:`image_batch`; also when shapes differ.
    """
    out, tgt, single = _pair(output, target)
    error = _mse_255(out, tgt) / 255.0**2
    values = np.full(error.shape, np.inf)
    positive = error > 0
    values[positive] = 10.0 * np.log10(1.0 / error[positive])
    return _result(values, single)


def ssim(output: np.ndarray, target: np.ndarray) -> float | np.ndarray:
    """Structural similarity per image, in [-1, 1] (1 = identical), via torchmetrics.

    ``structural_similarity_index_measure`` with a Gaussian window (sigma
    :data:`SSIM_SIGMA`, 11 x 11), data range 1 on ``pixels / 255`` in float64.
    torchmetrics reflect-pads the image by 5 pixels, so the SSIM map has the
    image's size; its mean over all pixels and channels is the score. (This
    module averages the returned full map itself: torchmetrics releases before
    the fix of its issue #2718 (2024) averaged only the map's interior, later
    ones the whole map, and the map they return is the same.)

    Raises:
        TypeError, ValueError: see :func:`image_batch`; also when shapes differ
            or an image is smaller than 6 x 6 (the reflect padding needs it).
    """
    out, tgt, single = _pair(output, target)
    half = SSIM_KERNEL_SIZE // 2
    if min(out.shape[1:3]) <= half:
        raise ValueError(f"SSIM needs images of at least {half + 1} x {half + 1} pixels, got {out.shape[1:3]}")
    if len(out) == 0:
        return np.zeros(0)
    preds = torch.from_numpy(out).permute(0, 3, 1, 2).to(torch.float64) / 255.0
    truth = torch.from_numpy(tgt).permute(0, 3, 1, 2).to(torch.float64) / 255.0
    _, full = structural_similarity_index_measure(
        preds,
        truth,
        gaussian_kernel=True,
        sigma=SSIM_SIGMA,
        kernel_size=SSIM_KERNEL_SIZE,
        data_range=1.0,
        reduction="none",
        return_full_image=True,
    )
    return _result(full.reshape(len(out), -1).mean(dim=1).numpy(), single)


def _grey(image: np.ndarray) -> np.ndarray:
    """uint8 grey version of one (H, W, C) image (OpenCV's Rec. 601 luma for RGB/RGBA)."""
    if image.shape[2] == 1:
        return np.ascontiguousarray(image[:, :, 0])
    code = cv2.COLOR_RGB2GRAY if image.shape[2] == 3 else cv2.COLOR_RGBA2GRAY
    return cv2.cvtColor(np.ascontiguousarray(image), code)


def _laplacian_variance(batch: np.ndarray) -> np.ndarray:
    """(B,) Laplacian variance of a uint8 (B, H, W, C) batch."""
    return np.array([cv2.Laplacian(_grey(image), cv2.CV_64F).var() for image in batch], dtype=np.float64)


def laplacian_variance(images: np.ndarray) -> float | np.ndarray:
    """Sharpness of each image: the variance of the Laplacian of its grey version (the usual focus measure).

    Colour is converted to uint8 grey (OpenCV's RGB -> grey), then
    ``cv2.Laplacian(grey, cv2.CV_64F)`` (3 x 3 kernel ``[[0, 1, 0], [1, -4, 1],
    [0, 1, 0]]``, borders reflected without repeating the edge pixel) and the
    variance over all pixels. The unit is squared 0-255 grey levels, as in the
    common blur-detection recipe (divide by ``255**2`` for [0, 1] units); blur
    lowers it, noise raises it.

    Raises:
        TypeError, ValueError: see :func:`image_batch`.
    """
    batch, single = image_batch(images)
    return _result(_laplacian_variance(batch), single)


def sharpness_ratio(output: np.ndarray, target: np.ndarray) -> float | np.ndarray:
    """Laplacian variance of each output divided by its target's: < 1 blurrier, > 1 sharper (or noisier).

    A target without any Laplacian (a flat image) gives ``1.0`` when the
    output is flat too (equally sharp) and ``inf`` otherwise; never nan.

    Raises:
        TypeError, ValueError: see :func:`image_batch`; also when shapes differ.
    """
    out, tgt, single = _pair(output, target)
    numerator, denominator = _laplacian_variance(out), _laplacian_variance(tgt)
    ratio = np.where(numerator > 0, np.inf, 1.0)
    nonzero = denominator > 0
    ratio[nonzero] = numerator[nonzero] / denominator[nonzero]
    return _result(ratio, single)


def finite_or_string(value: float) -> float | str:
    """``value`` as a float if finite, else the string ``"inf"``, ``"-inf"`` or ``"nan"`` (strict JSON has
    no Infinity/NaN literals; ``float()`` reads these strings back)."""
    number = float(value)
    if math.isfinite(number):
        return number
    if math.isnan(number):
        return "nan"
    return "inf" if number > 0 else "-inf"


def json_safe(obj: object) -> object:
    """A copy of ``obj`` that ``json.dumps(..., allow_nan=False)`` accepts: floats through
    :func:`finite_or_string`, numpy scalars and arrays as Python numbers and lists, tuples as lists
    (mappings and lists are walked recursively; bools, ints, strings and None stay as they are)."""
    if isinstance(obj, Mapping):
        return {key: json_safe(value) for key, value in obj.items()}
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    if isinstance(obj, (list, tuple)):
        return [json_safe(value) for value in obj]
    if isinstance(obj, float):
        return finite_or_string(obj)
    return obj
