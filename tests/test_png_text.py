"""PNGs with megabytes of text (an editor's history in zTXt) are valid images: they decode, keep their capture
date and index; the limits against decompression bombs stay, for text and for pixels."""

from __future__ import annotations

import io
import random
import string
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from clipgit.core.decode.image import decode
from clipgit.core.decode.photo_facts import photo_facts
from clipgit.core.engine import Engine
from clipgit.core.errors import ImageUnreadable


def png_with_text(text: str, size: tuple[int, int] = (64, 48)) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("history", text, zip=True)  # zTXt: inflated by Pillow when it opens the file
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2023:07:14 18:03:00"
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "PNG", pnginfo=info, exif=exif.tobytes())
    return buf.getvalue()


@pytest.fixture(scope="module")
def history_png() -> bytes:
    rng = random.Random(0)  # letters at random: the chunk stays megabytes on disk too, as real history does
    return png_with_text("".join(rng.choices(string.ascii_letters + string.digits, k=3_000_000)))


def test_a_png_with_3_mb_of_text_decodes_and_keeps_its_date(history_png: bytes) -> None:
    assert len(history_png) > 2_000_000  # 3 MB inflated: Pillow's own limit, 1 MB, refused it
    image, width, height = decode(history_png)
    assert (width, height) == (64, 48) and image.getpixel((0, 0)) == (200, 30, 30)
    facts = photo_facts(history_png, 0)
    assert facts.taken_from.startswith("exif") and facts.taken > 1.6e9  # not the file's mtime (0)


def test_the_limits_against_bombs_stay(history_png: bytes) -> None:
    assert Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS <= 200_000_000
    with pytest.raises(ImageUnreadable, match="too many pixels"):
        decode(history_png, max_pixels=1000)
    bomb = png_with_text("a" * (65 << 20), (8, 8))  # 65 MB of text in a file of some 65 KB
    assert len(bomb) < 200_000
    with pytest.raises(ImageUnreadable):
        decode(bomb)


def test_indexing_a_png_with_large_text(engine: Engine, tmp_path: Path, history_png: bytes) -> None:
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "edited.png").write_bytes(history_png)
    report = engine.index([str(tmp_path / "pics")])
    assert report.skipped == [] and report.embedded == 1
    (result,) = engine.search("year:2023")
    assert result.path.endswith("edited.png") and result.taken_from == "exif-local"


def _chunks(png: bytes) -> list[bytes]:
    out, pos = [], 8
    while pos < len(png):
        length = int.from_bytes(png[pos:pos + 4], "big")
        out.append(png[pos:pos + 12 + length])
        pos += 12 + length
    return out


def _gps_png(exif_after_pixels: bool) -> bytes:
    exif = Image.Exif()
    exif[0x10F], exif[0x110] = "Canon", "Canon EOS R6"
    exif.get_ifd(0x8769)[0x9003] = "2021:05:02 09:30:00"
    exif.get_ifd(0x8769)[0x9011] = "+01:00"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (38.0, 42.0, 36.0), "W", (9.0, 8.0, 24.0)  # Lisbon
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 30)).save(buf, "PNG", exif=exif.tobytes())
    png = buf.getvalue()
    if not exif_after_pixels:
        return png
    chunks = _chunks(png)
    exif_chunk = next(c for c in chunks if c[4:8] == b"eXIf")
    rest = [c for c in chunks if c[4:8] != b"eXIf"]
    return png[:8] + b"".join(rest[:-1]) + exif_chunk + rest[-1]  # just before IEND


@pytest.mark.parametrize("after", [False, True])
def test_a_png_s_exif_is_read_without_its_pixels(after: bool) -> None:
    """eXIf before or after the pixel data gives the date, offset, camera and position; the pixels are never
    decoded for it, so a PNG whose pixel data is broken still keeps its date (Pillow's getexif decoded it all)."""
    png = _gps_png(after)
    facts = photo_facts(png, 0)
    assert (facts.taken_from, facts.taken_offset, facts.camera) == ("exif", 60, "Canon EOS R6")
    assert facts.gps and facts.lat == pytest.approx(38.71, abs=0.01) and facts.lon == pytest.approx(-9.14, abs=0.01)
    chunks = _chunks(png)
    broken = png[:8] + b"".join(c if c[4:8] != b"IDAT" else c[:8] + b"\0" * (len(c) - 8) for c in chunks)
    assert photo_facts(broken, 0) == facts


def test_a_png_without_exif_falls_back_to_its_mtime() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    facts = photo_facts(buf.getvalue(), 5_000_000_000)
    assert (facts.taken, facts.taken_from, facts.gps) == (5.0, "mtime", False)
