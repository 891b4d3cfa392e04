"""Pixel metrics against values computed by hand and against a direct numpy SSIM."""

from __future__ import annotations

import json
import math
import warnings

import cv2
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from facexpr.metrics import (
    finite_or_string,
    image_batch,
    json_safe,
    laplacian_variance,
    mse,
    mse_255,
    psnr,
    sharpness_ratio,
    ssim,
)


def _random_image(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _reference_ssim(output, target, sigma=1.5, radius=5, k1=0.01, k2=0.03):
    """Gaussian-window SSIM of two uint8 (H, W[, C]) images written out from the formula of Wang et al.

    Each pixel's window is the 11 x 11 Gaussian around it on the image
    reflect-padded by 5 pixels (edge pixel not repeated), the statistics are
    weighted means, and the score is the mean over pixels and channels.
    """
    x = output.astype(np.float64) / 255.0
    y = target.astype(np.float64) / 255.0
    if x.ndim == 2:
        x, y = x[:, :, None], y[:, :, None]
    offsets = np.arange(-radius, radius + 1)
    g = np.exp(-(offsets**2) / (2 * sigma**2))
    window = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = k1**2, k2**2
    scores = []
    for ch in range(x.shape[2]):
        px = np.pad(x[:, :, ch], radius, mode="reflect")
        py = np.pad(y[:, :, ch], radius, mode="reflect")
        wx = sliding_window_view(px, window.shape)
        wy = sliding_window_view(py, window.shape)

        def weighted_mean(values):
            return (values * window).sum(axis=(-2, -1))

        mx, my = weighted_mean(wx), weighted_mean(wy)
        vx = weighted_mean(wx * wx) - mx**2
        vy = weighted_mean(wy * wy) - my**2
        cxy = weighted_mean(wx * wy) - mx * my
        scores.append(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(scores))


def test_mse_and_psnr_of_a_hand_computed_2x2_pair():
    target = np.zeros((2, 2), np.uint8)
    output = np.array([[51, 0], [0, 0]], np.uint8)
    # one pixel off by 51 grey levels: mse_255 = 51^2 / 4 = 650.25; on [0, 1]: (51/255)^2 / 4 = 0.2^2 / 4 = 0.01
    assert mse_255(output, target) == 650.25
    assert mse(output, target) == pytest.approx(0.01, rel=1e-12)
    # PSNR = 10 log10(1 / 0.01) = 20 dB
    assert psnr(output, target) == pytest.approx(20.0, abs=1e-9)


def test_mse_of_a_hand_computed_4x4_colour_pair():
    target = np.full((4, 4, 3), 100, np.uint8)
    output = target.copy()
    output[0, 0] = (110, 90, 100)  # squared errors 100 + 100 + 0
    output[3, 3, 2] = 130  # squared error 900
    # 1100 over 48 values
    assert mse_255(output, target) == pytest.approx(1100 / 48, rel=1e-12)
    assert mse(output, target) == pytest.approx(1100 / 48 / 255**2, rel=1e-12)
    assert psnr(output, target) == pytest.approx(10 * math.log10(255**2 * 48 / 1100), abs=1e-9)


def test_mse_255_is_mse_times_255_squared_per_image():
    out, tgt = _random_image((5, 12, 10, 3), 1), _random_image((5, 12, 10, 3), 2)
    values, values_255 = mse(out, tgt), mse_255(out, tgt)
    assert values.shape == (5,)
    np.testing.assert_allclose(values_255, values * 255**2, rtol=1e-12)
    for i in range(5):
        assert mse(out[i], tgt[i]) == pytest.approx(values[i], rel=1e-12)
        assert psnr(out[i], tgt[i]) == pytest.approx(10 * math.log10(1 / values[i]), rel=1e-12)


def test_identical_images_give_infinite_psnr_and_unit_ssim_without_warnings():
    image = _random_image((32, 32, 3))
    batch = np.stack([image, image[::-1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert psnr(image, image) == math.inf
        assert mse(image, image) == 0.0
        np.testing.assert_array_equal(psnr(batch, batch), [math.inf, math.inf])
        mixed = psnr(batch, np.stack([image, image]))
        assert mixed[0] == math.inf and np.isfinite(mixed[1])
    assert ssim(image, image) == pytest.approx(1.0, abs=1e-12)


def test_ssim_of_an_image_and_its_negative_is_negative():
    image = _random_image((32, 32))
    assert ssim(image, 255 - image) < 0


@pytest.mark.parametrize("shape", [(16, 16), (16, 20, 3), (24, 17)])
def test_ssim_matches_a_direct_numpy_implementation(shape):
    target = _random_image(shape, 3)
    noise = np.random.default_rng(4).normal(0, 40, size=shape)
    output = np.clip(target + noise, 0, 255).astype(np.uint8)
    expected = _reference_ssim(output, target)
    assert ssim(output, target) == pytest.approx(expected, abs=1e-4)
    blurred = cv2.GaussianBlur(target, (5, 5), 1.0)
    assert ssim(blurred, target) == pytest.approx(_reference_ssim(blurred, target), abs=1e-4)


def test_ssim_is_per_image_and_needs_6_pixels():
    targets = _random_image((3, 16, 16, 3), 5)
    outputs = np.stack([targets[0], 255 - targets[1], cv2.GaussianBlur(targets[2], (3, 3), 0.8)])
    values = ssim(outputs, targets)
    assert values.shape == (3,)
    for i in range(3):
        assert values[i] == pytest.approx(ssim(outputs[i], targets[i]), abs=1e-12)
    assert values[0] == pytest.approx(1.0) and values[1] < 0 < values[2] < 1
    with pytest.raises(ValueError, match="at least 6"):
        ssim(np.zeros((5, 5), np.uint8), np.zeros((5, 5), np.uint8))


def test_laplacian_variance_of_a_checkerboard():
    board = (np.indices((8, 8)).sum(axis=0) % 2 * 255).astype(np.uint8)
    # every pixel's four neighbours have the other colour (the reflected border too), so the Laplacian
    # is 4 * 255 - 0 = 1020 on black pixels and 0 - 4 * 255 = -1020 on white ones: mean 0, variance 1020^2
    assert laplacian_variance(board) == pytest.approx(1020.0**2, rel=1e-12)
    assert laplacian_variance(np.full((8, 8), 77, np.uint8)) == 0.0


def test_laplacian_variance_of_a_single_bright_pixel_in_colour():
    image = np.zeros((5, 5, 3), np.uint8)
    image[2, 2] = 100  # grey 100
    # Laplacian: -400 at the pixel, +100 at its 4 neighbours, 0 on the 20 others: mean 0,
    # variance (400^2 + 4 * 100^2) / 25 = 8000
    assert laplacian_variance(image) == pytest.approx(8000.0, rel=1e-12)
    assert laplacian_variance(np.stack([image, image])).tolist() == pytest.approx([8000.0, 8000.0])


def test_sharpness_ratio_of_blurred_identical_and_flat_images():
    target = _random_image((64, 64, 3), 6)
    blurred = cv2.GaussianBlur(target, (0, 0), 1.5)
    assert sharpness_ratio(blurred, target) < 0.2
    assert sharpness_ratio(target, target) == 1.0
    assert sharpness_ratio(target, blurred) > 1
    flat = np.full((64, 64, 3), 128, np.uint8)
    np.testing.assert_array_equal(sharpness_ratio(np.stack([flat, target]), np.stack([flat, flat])), [1.0, math.inf])


def test_layouts_single_images_give_floats_and_batches_arrays():
    assert image_batch(np.zeros((4, 5), np.uint8))[0].shape == (1, 4, 5, 1)
    assert image_batch(np.zeros((4, 5, 3), np.uint8))[0].shape == (1, 4, 5, 3)
    assert image_batch(np.zeros((2, 4, 5), np.uint8))[0].shape == (2, 4, 5, 1)  # last axis 5: a grey batch
    assert image_batch(np.zeros((2, 4, 5, 4), np.uint8))[0].shape == (2, 4, 5, 4)
    image = _random_image((8, 8, 3))
    assert isinstance(mse(image, image), float) and isinstance(laplacian_variance(image), float)
    assert mse(image[None], image[None]).shape == (1,)


def test_bad_inputs_are_refused():
    image = _random_image((8, 8))
    with pytest.raises(TypeError, match="uint8"):
        mse(image.astype(np.float32) / 255, image)
    with pytest.raises(ValueError, match="differ"):
        psnr(image, image[:, :7])
    with pytest.raises(ValueError):
        laplacian_variance(np.zeros((1, 2, 3, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="channels"):
        laplacian_variance(np.zeros((2, 4, 4, 2), np.uint8))


def test_non_finite_numbers_become_strings_in_strict_json():
    assert finite_or_string(20.5) == 20.5
    assert [finite_or_string(v) for v in (math.inf, -math.inf, math.nan)] == ["inf", "-inf", "nan"]
    report = {
        "psnr": psnr(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)),
        "per_image": np.array([21.0, np.inf]),
        "mean": np.float32(2.5),
        "flags": (np.bool_(True), 3, None, "x"),
    }
    text = json.dumps(json_safe(report), allow_nan=False)
    back = json.loads(text)
    assert back == {"psnr": "inf", "per_image": [21.0, "inf"], "mean": 2.5, "flags": [True, 3, None, "x"]}
    assert float(back["psnr"]) == math.inf
