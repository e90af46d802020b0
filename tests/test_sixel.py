"""Sixel bytes and picture geometry: registers selected before use, full palettes, aspect ratios kept."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from clipgit.tui.halfblock import halfblock
from clipgit.tui.sixel import image_to_sixels
from tests.conftest import photo

TOKEN = re.compile(r"#(\d+)(;2;\d+;\d+;\d+)?|!\d+|[?-~$\-]")


def drawn_registers(sixel: str) -> list[int]:
    """Registers used to draw, in order; fails if one draws before it was selected with `#n`."""
    body = sixel[sixel.index('"'):].split("#", 1)[1]
    selected: int | None = None
    used: list[int] = []
    for match in TOKEN.finditer("#" + body.removesuffix("\x1b\\")):
        if match.group(1) is not None:
            if match.group(2) is None:
                selected = int(match.group(1))  # a selection
            continue  # a definition selects nothing (xterm, VT340)
        if match.group(0)[0] in "$-!":
            continue
        assert selected is not None, "drawing before any register was selected"
        if not used or used[-1] != selected:
            used.append(selected)
    return used


def test_every_register_is_selected_before_it_draws() -> None:
    stripes = Image.new("RGB", (60, 30), (255, 0, 0))
    stripes.paste((0, 0, 255), (0, 10, 60, 20))
    sixel = image_to_sixels(stripes)
    assert set(drawn_registers(sixel)) == {0, 1}
    assert "#0;2;100;0;0#0" in sixel and "#1;2;0;0;100#1" in sixel
    drawn_registers(image_to_sixels(photo(3, (120, 90))))


def test_the_palette_is_full() -> None:
    gradient = np.zeros((24, 171, 3), np.uint8)
    gradient[:, :, 0] = np.arange(171)[None, :]
    gradient[:, :, 1] = 255 - np.arange(171)[None, :]
    registers = set(re.findall(r"#(\d+);2", image_to_sixels(Image.fromarray(gradient))))
    levels = {(v * 100 + 127) // 255 for v in range(171)}  # sixel colours are percentages
    assert len(registers) == len(levels)  # every colour the protocol can tell apart
    big = photo(4, (300, 200))
    assert len(set(re.findall(r"#(\d+);2", image_to_sixels(big)))) >= 240  # of 256 (a few round alike)


def test_half_blocks_keep_the_aspect_ratio() -> None:
    wide = Image.new("RGB", (600, 300), (255, 255, 255))
    text = halfblock(wide, 20, 10)  # 20 x 20 half-cell pixels: a 2:1 picture fills 20 x 10 of them
    from rich.style import Style

    def white(style: Style | str, part: str) -> bool:
        assert isinstance(style, Style)
        colour = style.color if part == "top" else style.bgcolor
        return colour is not None and colour.get_truecolor()[0] > 0

    halves = [[white(span.style, part) for span in line.spans] for line in text.split("\n")
              for part in ("top", "bottom")]
    lit_rows = [row for row in halves if any(row)]
    assert len(lit_rows) == 10 and all(row.count(True) == 20 for row in lit_rows)  # 20 x 10: 2:1


def test_fit_cells_keeps_the_aspect_ratio(monkeypatch: pytest.MonkeyPatch) -> None:
    from textual_image._terminal import CellSize

    import clipgit.tui.preview as preview

    monkeypatch.setattr(preview, "get_cell_size", lambda: CellSize(6, 13))
    for (w, h), box in (((600, 300), (57, 20)), ((192, 192), (11, 7)), ((300, 900), (40, 20))):
        cols, rows = preview.fit_cells(w, h, *box)
        assert cols <= box[0] and rows <= box[1]
        drawn = (cols * 6) / (rows * 13)
        assert abs(drawn - w / h) / (w / h) < 0.15, ((w, h), box, cols, rows)


def test_xterm_gets_256_colours_unless_the_user_chose() -> None:
    """TERM=xterm alone reads as 16 colours: the rows' half-block thumbnails turned grey and yellow there."""
    from clipgit.tui.run_app import xterm_colours

    xterm = {"TERM": "xterm", "XTERM_VERSION": "XTerm(398)"}
    cases = [(xterm, "256"), ({**xterm, "COLORTERM": "truecolor"}, None),
             ({**xterm, "TEXTUAL_COLOR_SYSTEM": "standard"}, "standard"),
             ({**xterm, "TERM": "tmux-256color"}, None), ({"TERM": "xterm"}, None)]
    for environ, wanted in cases:
        environ = dict(environ)
        xterm_colours(environ)
        assert environ.get("TEXTUAL_COLOR_SYSTEM") == wanted, environ


def test_a_picture_fills_its_box_of_cells_on_the_background() -> None:
    """xterm blanks whole cells under a sixel: a picture ending mid-cell left a black band below it."""
    from clipgit.tui.preview import on_background

    picture = Image.new("RGBA", (110, 73), (200, 0, 0, 255))
    picture.putpixel((0, 0), (0, 0, 255, 0))  # transparent: the background shows through
    boxed = on_background(picture, (120, 80), (18, 18, 18, 1.0))
    assert boxed.size == (120, 80) and boxed.mode == "RGB"
    pixels = np.asarray(boxed)
    assert (pixels[3:76, 5:115] == (200, 0, 0)).all(axis=-1).sum() == 110 * 73 - 1  # centred, whole
    assert (pixels[:3] == 18).all() and (pixels[76:] == 18).all() and (pixels[:, :5] == 18).all()
    assert tuple(pixels[3, 5]) == (18, 18, 18)
    whole = Image.new("RGB", (120, 80), (1, 2, 3))
    assert on_background(whole, (120, 80), (18, 18, 18, 1.0)) is whole
