"""A picture decoded straight into the BGR array the text reader works in, where OpenCV reads it as Pillow would.

Why: the reader's networks and OpenCV work in BGR arrays, and taking the pixels out of a Pillow image costs a
copy that repacks every pixel (Pillow keeps RGB in 4 bytes): 14 CPU ms a picture on the OCR benchmark, 40% of
the decode itself. OpenCV decodes JPEG and PNG with the same libraries into the array the reader wants.

Only files whose decode both agree on take this path: complete 8-bit JPEGs with one or three components (the
GPU path's own test, jpeg_header.raw_jpeg) and 8-bit PNGs without transparency (grey, RGB, palette). Anything
else (CMYK, 16-bit, alpha, truncated, WebP, HEIC, ...) returns None and Pillow decodes it as before. Both turn
the picture by its EXIF orientation; the size OpenCV gives is checked against the one the header promises.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from clipgit.core.decode.jpeg_header import raw_jpeg
from clipgit.core.decode.photo_facts import ORIENTATION, PNG_SIGNATURE, png_chunks, png_exif, tiff_tags

_REDUCED = {1: 1, 2: 17, 4: 33, 8: 65}  # scale -> cv2.IMREAD_COLOR, IMREAD_REDUCED_COLOR_2, _4, _8


@dataclass(frozen=True, slots=True)
class Bgr:
    """A decoded picture: uint8 H x W x 3 in BGR order, turned upright by its EXIF orientation."""

    pixels: npt.NDArray[np.uint8]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as Pillow's Image.size."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])


def header(data: bytes, max_pixels: int) -> tuple[int, int] | None:
    """(width, height) as shown (after the EXIF turn) of a file `decode_bgr` takes; None for the others,
    a broken header or EXIF block included (Pillow then decodes it, and says what is wrong)."""
    try:
        return _shown(data, max_pixels)
    except (IndexError, struct.error):
        return None


def _shown(data: bytes, max_pixels: int) -> tuple[int, int] | None:
    if data[:3] == b"\xff\xd8\xff":
        jpeg = raw_jpeg(data, max_pixels)
        return jpeg.shown_size if jpeg is not None else None
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR" or len(data) < 33:
        return None
    width, height, depth, colour = *struct.unpack(">II", data[16:24]), data[24], data[25]
    if depth != 8 or colour not in (0, 2, 3) or not 0 < width * height <= max_pixels or _has_chunk(data, b"tRNS"):
        return None  # 16 bits, alpha or a transparent colour: Pillow's decode (it lays them on white)
    block = png_exif(data)
    if block is None:  # EXIF in a text chunk, which OpenCV does not read
        return None
    turn = tiff_tags(block, {ORIENTATION}).get(ORIENTATION, 1) if block else 1
    return (height, width) if turn in (5, 6, 7, 8) else (width, height)


def decode_bgr(data: bytes, max_pixels: int, scale: int = 1, shown: tuple[int, int] | None = None) -> Bgr | None:
    """The picture as a BGR array, at 1/`scale` (1, 2, 4 or 8; JPEG only) of its size; None where Pillow
    must decode it (see the module's docstring), including any file OpenCV fails on. `shown`: what `header`
    said of this file, where the caller has asked it already."""
    shown = shown or header(data, max_pixels)
    if shown is None or (scale != 1 and data[:2] != b"\xff\xd8"):
        return None
    import cv2

    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED[scale])
    if pixels is None or pixels.ndim != 3:
        return None
    expected = tuple(-(-side // scale) for side in shown)
    fits = (pixels.shape[1], pixels.shape[0]) == expected
    return Bgr(pixels.astype(np.uint8, copy=False)) if fits else None


def _has_chunk(data: bytes, kind: bytes) -> bool:
    """Whether a chunk of this type comes before the pixel data (where tRNS must be)."""
    for found, _, _ in png_chunks(data):
        if found == kind:
            return True
        if found == b"IDAT":
            return False
    return False
