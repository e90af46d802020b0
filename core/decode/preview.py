"""A picture for the text reader: a small copy first, the full one only when there is text to read.

Why: the reader detects text on a copy at most 960 px on its longest side and cuts the text from the full
picture. A JPEG decodes at 1/2, 1/4 or 1/8 scale for a fraction of the full decode (a 12 MP photo here: 23-53 ms
at 1/4 where the full picture takes 80-130), so a photo with no text, most of a photo library, costs that small
decode and the detection; the full picture is decoded only for the pictures where detection found text.
Formats without scaled decoding (PNG, ...) and JPEGs under 4 times the detector's size (3840 px) are decoded
once, whole. JPEGs and PNGs that OpenCV reads as Pillow does are decoded straight into BGR arrays (bgr.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from clipgit.core.decode.bgr import Bgr, decode_bgr, header
from clipgit.core.decode.image import decode, open_image
from clipgit.core.errors import ImageUnreadable

DETECT_SIDE = 960  # the text detector's input, longest side (OcrReader's det_limit by default)


@dataclass(frozen=True)
class Preview:
    """`small`: the picture scaled down (EXIF-turned, RGB), at least the detector's size on its longest side;
    `size`: the full picture's (width, height) as shown; `full()`: decodes the full picture (ImageUnreadable
    when it cannot)."""

    small: Image.Image | Bgr
    size: tuple[int, int]
    full: Callable[[], Image.Image | Bgr]


def for_reading(data: bytes, long_side: int, max_pixels: int) -> Image.Image | Bgr | Preview:
    """The picture whole, or a Preview at least `long_side` px on its longest side when a scaled decode is
    smaller (at 1/4 scale or less: pictures 4 times `long_side` or more). Raises ImageUnreadable as `decode`
    does."""
    shown = header(data, max_pixels)
    if shown is not None:
        scale = _scale(*shown, long_side)
        bgr = decode_bgr(data, max_pixels, scale, shown)
        if bgr is not None and scale == 1:
            return bgr
        if bgr is not None:
            return Preview(bgr, shown, _full(data, max_pixels, shown, opencv=True))
    try:
        width, height = open_image(data).size
    except Exception:  # decode says why, in its words
        width = height = 0
    if not width or not height or _scale(width, height, long_side) == 1:
        return decode(data, max_pixels=max_pixels)[0]
    small, shown_w, shown_h = decode(data, draft_size=_wanted(width, height, long_side), max_pixels=max_pixels)
    if small.size == (shown_w, shown_h):  # not a JPEG, or no smaller scale: already whole
        return small
    return Preview(small, (shown_w, shown_h), _full(data, max_pixels, (shown_w, shown_h), opencv=shown is not None))


def _full(data: bytes, max_pixels: int, shown: tuple[int, int], opencv: bool) -> Callable[[], Image.Image | Bgr]:
    """Decodes the full picture: by OpenCV where `header` took the file (`opencv`), else (or when it fails)
    by Pillow."""
    def full() -> Image.Image | Bgr:
        image = (decode_bgr(data, max_pixels, 1, shown) if opencv else None) or decode(data, max_pixels=max_pixels)[0]
        if image.size != shown:
            raise ImageUnreadable(f"decoded at {image.size[0]}x{image.size[1]}, expected {shown[0]}x{shown[1]}")
        return image
    return full


def _scale(width: int, height: int, long_side: int) -> int:
    """The JPEG scale (1, 4 or 8) of a small copy whose shorter side keeps its share of `long_side`; 1 below
    4 times `long_side`: a 1/2 scale saves little there, and detection on it missed a few words of small UI
    text in 1920 x 1080 screenshots that it found on the full picture."""
    if max(width, height) < 4 * long_side:
        return 1
    wanted = _wanted(width, height, long_side)
    return next(s for s in (8, 4, 2, 1) if -(-min(width, height) // s) >= wanted)


def _wanted(width: int, height: int, long_side: int) -> int:
    """The shorter side a small copy keeps: its share of `long_side`, so the longer side is at least that."""
    return math.ceil(long_side * min(width, height) / max(width, height))
