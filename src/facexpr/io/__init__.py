"""Safe reading and atomic writing of images and text files; crops between uint8 arrays and tensors."""

from facexpr.io.images import (
    BadInputError,
    file_sha256,
    load_image,
    write_bytes_atomic,
    write_image_atomic,
    write_text_atomic,
)
from facexpr.io.tensors import as_channels, from_uint8, save_tensors_atomic, to_uint8

__all__ = ["BadInputError", "as_channels", "file_sha256", "from_uint8", "load_image", "save_tensors_atomic", "to_uint8",
           "write_bytes_atomic", "write_image_atomic", "write_text_atomic"]
