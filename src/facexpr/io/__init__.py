"""Safe reading and atomic writing of images and text files."""

from facexpr.io.images import (
    BadInputError,
    file_sha256,
    load_image,
    write_image_atomic,
    write_text_atomic,
)

__all__ = ["BadInputError", "file_sha256", "load_image", "write_image_atomic", "write_text_atomic"]
