"""Tiny thumbnails as coloured half-block text, for rows of a virtual list.

Why not an image widget per row: a list of 1,000 results with a widget each
stalls the UI while it mounts; text rows in the virtual ResultsList render
only what is visible. Every terminal with colour can show these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.color import Color
from rich.style import Style
from rich.text import Text

if TYPE_CHECKING:
    from PIL import Image

RGB = tuple[int, int, int]


def halfblock(img: Image.Image, cols: int, rows: int) -> Text:
    """`cols` x `rows` cells, two pixels a cell (upper half fg, lower half bg), aspect kept."""
    from PIL import Image  # a thumbnail is ready, so Pillow is loaded; this module is not, before the first paint

    w, h = img.size
    scale = min(cols / w, (rows * 2) / h)
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    small = img.convert("RGB").resize((tw, th), Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (cols, rows * 2), (0, 0, 0))
    canvas.paste(small, ((cols - tw) // 2, (rows * 2 - th) // 2))
    px = canvas.load()
    assert px is not None
    text = Text(no_wrap=True, overflow="crop")
    for r in range(rows):
        for c in range(cols):
            top, bottom = cast(RGB, px[c, 2 * r]), cast(RGB, px[c, 2 * r + 1])  # an RGB canvas
            text.append("▀", Style.from_color(Color.from_rgb(*top), Color.from_rgb(*bottom)))
        if r < rows - 1:
            text.append("\n")
    return text


def placeholder(cols: int, rows: int, mark: str = " ") -> Text:
    return Text("\n".join([mark.ljust(cols)] + [" " * cols] * (rows - 1)), style="dim", no_wrap=True)
