"""Bad input never crashes: every kind of broken file becomes a one-line BadInputError."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facexpr.io import (
    BadInputError,
    file_sha256,
    load_image,
    write_image_atomic,
    write_text_atomic,
)


def _gradient(height: int = 40, width: int = 50) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 5, y * 6, (x + y) * 2], axis=-1).astype(np.uint8)


def _expect_bad(path, fragment: str) -> BadInputError:
    with pytest.raises(BadInputError) as caught:
        load_image(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert fragment in message
    return caught.value


def test_reads_rgb_png_exactly(tmp_path):
    image = _gradient()
    Image.fromarray(image).save(tmp_path / "a.png")
    assert np.array_equal(load_image(tmp_path / "a.png"), image)


def test_grey_option_returns_two_dimensions(tmp_path):
    Image.fromarray(_gradient()).save(tmp_path / "a.png")
    grey = load_image(tmp_path / "a.png", grey=True)
    assert grey.shape == (40, 50) and grey.dtype == np.uint8


def test_missing_empty_and_non_image_files(tmp_path):
    _expect_bad(tmp_path / "nope.jpg", "no such file")
    (tmp_path / "empty.jpg").write_bytes(b"")
    _expect_bad(tmp_path / "empty.jpg", "empty file")
    (tmp_path / "notes.jpg").write_text("these are not pixels")
    _expect_bad(tmp_path / "notes.jpg", "not an image")


def test_truncated_jpeg(tmp_path):
    Image.fromarray(_gradient(200, 200)).save(tmp_path / "full.jpg", quality=95)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    _expect_bad(tmp_path / "cut.jpg", "truncated")


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    Image.new("L", (3000, 3000)).save(tmp_path / "big.png")
    with pytest.raises(BadInputError, match="too large"):
        load_image(tmp_path / "big.png", max_pixels=1_000_000)


def test_sixteen_bit_grey_is_scaled_to_eight_bits(tmp_path):
    ramp = (np.arange(256, dtype=np.uint32).reshape(16, 16) * 257).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    image = load_image(tmp_path / "deep.png")
    assert image.dtype == np.uint8 and image.shape == (16, 16, 3)
    assert np.array_equal(image[..., 0], np.arange(256).reshape(16, 16))


def test_rgba_is_flattened_onto_white(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:5, :, 3] = 255  # top half opaque red, bottom half transparent
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "alpha.png")
    image = load_image(tmp_path / "alpha.png")
    assert tuple(image[0, 0]) == (200, 0, 0)
    assert tuple(image[9, 9]) == (255, 255, 255)


def test_palette_image_with_transparency(tmp_path):
    palette = Image.fromarray(_gradient()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.info["transparency"] = 0
    palette.save(tmp_path / "pal.gif", transparency=0)
    image = load_image(tmp_path / "pal.gif")
    assert image.shape == (40, 50, 3)


def test_exif_orientation_is_honoured(tmp_path):
    image = Image.fromarray(_gradient(30, 60))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    image.save(tmp_path / "rot.jpg", exif=exif)
    assert load_image(tmp_path / "rot.jpg").shape == (60, 30, 3)


def test_atomic_writes_leave_no_temporary_files(tmp_path):
    write_image_atomic(tmp_path / "sub" / "x.png", _gradient())
    write_text_atomic(tmp_path / "sub" / "x.txt", "hello")
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["x.png", "x.txt"]
    assert np.array_equal(load_image(tmp_path / "sub" / "x.png"), _gradient())
    assert len(file_sha256(tmp_path / "sub" / "x.txt")) == 64


def test_atomic_writes_get_the_permissions_of_a_plain_write(tmp_path):
    """A temporary file is private to its owner; the written file must not stay so (others read a user's outputs)."""
    (tmp_path / "plain.txt").write_text("hello")
    write_text_atomic(tmp_path / "atomic.txt", "hello")
    write_image_atomic(tmp_path / "atomic.png", _gradient())
    plain = (tmp_path / "plain.txt").stat().st_mode & 0o777
    assert (tmp_path / "atomic.txt").stat().st_mode & 0o777 == plain
    assert (tmp_path / "atomic.png").stat().st_mode & 0o777 == plain


def test_crops_convert_between_uint8_and_tensors():
    """uint8 (H, W, 3) and grey (H, W) crops -> (B, C, H, W) floats and back, exactly; values are rounded."""
    import torch

    from facexpr.io import from_uint8, to_uint8

    rgb = np.random.default_rng(0).integers(0, 256, (2, 5, 5, 3)).astype(np.uint8)
    tensor = from_uint8(rgb)
    assert tensor.shape == (2, 3, 5, 5) and tensor.dtype == torch.float32
    assert np.array_equal(to_uint8(tensor), rgb)
    grey = from_uint8([rgb[0, :, :, 0]])
    assert grey.shape == (1, 1, 5, 5) and np.array_equal(to_uint8(grey[0]), rgb[0, :, :, 0])
    assert to_uint8(torch.tensor([[[0.499 / 255, 2.0, -1.0]]])).tolist() == [[0, 255, 0]]
