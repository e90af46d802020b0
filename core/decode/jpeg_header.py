"""A JPEG's header read without decoding it: what the GPU decoder is given, and what it must not be.

Why apart from images.py: the decode pool and the card's side need only the header (size, EXIF
orientation, whether nvJPEG can take the file), read with a few byte comparisons at thousands of files a
second; decoding pixels is images.py's work.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from clipgit.core.decode.photo_facts import ORIENTATION, tiff_tags


@dataclass(frozen=True)
class RawJpeg:
    """A JPEG left undecoded for the GPU: its bytes and EXIF orientation (1-8), read from the header only."""

    data: bytes | memoryview  # a memoryview: in the decode workers' shared block (see shared_block)
    orientation: int
    width: int  # as stored in the file, before the EXIF turn: what the GPU decoder gives back
    height: int

    @property
    def shown_size(self) -> tuple[int, int]:
        """Width and height as the photo is shown (orientations 5-8 turn it a quarter)."""
        return (self.height, self.width) if self.orientation in (5, 6, 7, 8) else (self.width, self.height)


def raw_jpeg(data: bytes, max_pixels: int) -> RawJpeg | None:
    """The JPEG as the GPU decoder takes it, or None where the CPU path must decode it.

    Only complete 8-bit JPEGs with one (grayscale) or three (YCbCr) components go to the GPU; CMYK, YCCK,
    12-bit, truncated or odd files take the CPU path, so no good image is lost to the fast path. The header
    is read here with a few byte comparisons (Pillow's parser costs ten times more, and at thousands of
    images a second it holds the GIL the decode threads share).
    """
    if data[:3] != b"\xff\xd8\xff" or data.rstrip(b"\0")[-2:] != b"\xff\xd9":
        return None  # not a JPEG, or a truncated one: the CPU path says so
    orientation, size = 1, None
    pos, end = 2, len(data)
    try:
        while pos + 4 <= end:
            if data[pos] != 0xFF:
                return None
            marker = data[pos + 1]
            if marker == 0xFF:  # fill byte
                pos += 1
                continue
            length = int.from_bytes(data[pos + 2:pos + 4], "big")
            segment = data[pos + 4:pos + 2 + length]
            if marker == 0xE1 and segment[:6] == b"Exif\0\0":
                found = tiff_tags(segment[6:], {ORIENTATION}).get(ORIENTATION, 1)
                orientation = found if isinstance(found, int) else 1
            elif marker in _SOF:
                precision, height, width, components = segment[0], *struct.unpack(">HH", segment[1:5]), segment[5]
                if precision != 8 or components not in (1, 3) or marker not in _SOF_GPU:
                    return None
                size = (width, height)
            elif marker == 0xEE and segment[:5] == b"Adobe" and len(segment) >= 12 and segment[11] == 2:
                return None  # YCCK
            elif marker == 0xDA:  # start of scan: the header is over
                break
            pos += 2 + length
    except (IndexError, struct.error):
        return None
    if size is None or min(size) < 1 or size[0] * size[1] > max_pixels:
        return None  # the CPU path says why
    return RawJpeg(data, orientation, size[0], size[1])


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_SOF_GPU = {0xC0, 0xC1, 0xC2}  # baseline, extended and progressive Huffman: what nvJPEG decodes
