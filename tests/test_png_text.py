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
