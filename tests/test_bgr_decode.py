"""The text reader's decode (decode/bgr.py) gives the pixels Pillow's decode gives, turned the same way, and
leaves to Pillow every file where the two could differ."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np
import pytest
from PIL import Image

from clipgit.core.decode.bgr import Bgr, decode_bgr
from clipgit.core.decode.image import decode
from clipgit.core.decode.preview import DETECT_SIDE, Preview, for_reading


def _photo(size: tuple[int, int] = (640, 480)) -> Image.Image:
    rng = np.random.default_rng(0)
    pixels = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    pixels[: size[1] // 2, : size[0] // 3] = (220, 30, 30)  # a red corner: shows any turn or flip
    pixels += rng.integers(0, 20, pixels.shape, dtype=np.uint8)
    return Image.fromarray(pixels)


def _saved(image: Image.Image, kind: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def _orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


@pytest.mark.parametrize("turn", range(1, 9))
@pytest.mark.parametrize("kind", ["JPEG", "PNG"])
def test_same_pixels_as_pillow_in_every_orientation(kind: str, turn: int) -> None:
    data = _saved(_photo(), kind, exif=_orientation(turn), **({"quality": 90} if kind == "JPEG" else {}))
    got = decode_bgr(data, 10**9)
    assert isinstance(got, Bgr)
    pillow = np.asarray(decode(data)[0]).astype(np.int16)
    assert got.size == (pillow.shape[1], pillow.shape[0])
    assert np.abs(got.pixels[:, :, ::-1].astype(np.int16) - pillow).mean() < 1.5  # decoders round apart


def test_a_scaled_jpeg_keeps_its_turn_and_shape() -> None:
    data = _saved(_photo((4000, 3000)), "JPEG", exif=_orientation(6))
    got = decode_bgr(data, 10**9, 4)
    assert isinstance(got, Bgr) and got.size == (750, 1000)
    made = for_reading(data, DETECT_SIDE, 10**9)
    assert isinstance(made, Preview) and made.size == (3000, 4000) and made.full().size == (3000, 4000)


def test_grey_and_palette_pngs_come_as_three_channels() -> None:
    for image in (_photo().convert("L"), _photo().convert("P")):
        got = decode_bgr(_saved(image, "PNG"), 10**9)
        assert isinstance(got, Bgr) and got.pixels.shape == (480, 640, 3)
        assert np.abs(got.pixels[:, :, ::-1].astype(np.int16) - np.asarray(image.convert("RGB"))).max() == 0


def test_files_where_the_decoders_could_differ_are_left_to_pillow() -> None:
    photo = _photo()
    transparent = photo.convert("RGBA")
    transparent.putalpha(128)
    keyed = photo.convert("P")
    keyed.info["transparency"] = 0
    jpeg = _saved(photo, "JPEG")
    refused = {
        "alpha": _saved(transparent, "PNG"),
        "transparent colour": _saved(keyed, "PNG", transparency=0),
        "16-bit": _saved(Image.fromarray(np.full((40, 40), 4000, dtype=np.uint16)), "PNG"),
        "CMYK": _saved(photo.convert("CMYK"), "JPEG"),
        "truncated": jpeg[: len(jpeg) // 2],
        "WebP": _saved(photo, "WEBP"),
        "too many pixels": jpeg,
    }
    for why, data in refused.items():
        assert decode_bgr(data, 1000 if why == "too many pixels" else 10**9) is None, why
    made = for_reading(refused["alpha"], DETECT_SIDE, 10**9)
    assert isinstance(made, Image.Image)  # Pillow's decode lays transparent pixels on white for the reader


def test_a_png_with_a_broken_exif_block_is_left_to_pillow() -> None:
    """A broken eXIf block must not stop the picture being read: the header says nothing, Pillow decodes."""
    data = _saved(_photo(), "PNG")
    body = b"II*\x00\xff\xff\x00\x00"  # the first IFD past the block's end
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body + struct.pack(">I", zlib.crc32(b"eXIf" + body))
    at = data.index(b"IDAT") - 4
    broken = data[:at] + chunk + data[at:]
    assert decode_bgr(broken, 10**9) is None
    made = for_reading(broken, DETECT_SIDE, 10**9)
    assert isinstance(made, Image.Image) and made.size == (640, 480)
