"""The image widget: textual-image's best method for this terminal, drawn true to the picture.

textual-image probes the terminal when `textual_image.widget` is imported,
so run_app imports this module before App.run(). What we add: sixels whose
colour registers are selected before use and drawn from a 256-colour palette
(tui/sixel.py), and pictures that keep their aspect ratio in every mode: the
widget is sized in cells from the terminal's real cell size in pixels, and a
sixel is scaled to fit inside that box rather than stretched to fill it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PIL import Image as PILImage
from rich.control import Control
from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.widget import Widget
from textual_image._pixeldata import PixelData
from textual_image._terminal import get_cell_size
from textual_image.widget import Image as _AutoImage
from textual_image.widget import SixelImage
from textual_image.widget.sixel import _ImageSixelImpl, _NoopRenderable

from clipgit.tui.sixel import image_to_sixels


class _FixedSixelImpl(_ImageSixelImpl):
    def _get_sixel_segments(self, sixel_data: str) -> Iterable[Segment]:
        # textual-image 0.12 moves the cursor to (right, bottom) after the sixel data; bottom is one row past
        # the image, so the row below it was left unpainted. Park the cursor on the image's last row instead.
        segments = list(super()._get_sixel_segments(sixel_data))
        region = self.screen.find_widget(self).visible_region
        segments[-1] = Segment(Control.move_to(region.right, max(region.y, region.bottom - 1)).segment.text,
                               style=Style())
        return segments

    def _image_to_sixels(self, image: Any, sixel_options: Any = None, background: Any = None) -> str:
        return image_to_sixels(image, background or (0, 0, 0, 1.0))

    def _scale_image(self, image_data: Any, terminal_sizes: Any) -> Any:
        """Fit inside the widget's box in pixels, keeping the picture's aspect ratio (whole cells would not),
        centred on the widget's background over the whole box.

        Why the whole box: xterm blanks every cell a sixel touches, so the part of a cell row below a
        picture that ends mid-cell showed as a black band (seven pixels under each grid tile's picture)."""
        box_w = self.content_size.width * terminal_sizes.width
        box_h = self.content_size.height * terminal_sizes.height
        if not (box_w and box_h and image_data.width and image_data.height):
            return image_data
        scale = min(box_w / image_data.width, box_h / image_data.height)
        width, height = max(1, round(image_data.width * scale)), max(1, round(image_data.height * scale))
        picture = image_data.scaled(width, height).pil_image
        return PixelData(on_background(picture, (box_w, box_h), self._get_background_rgba()))


class FixedSixelImage(SixelImage, Renderable=_NoopRenderable):
    def compose(self) -> ComposeResult:
        yield _FixedSixelImpl(self.image, self._sixel_options)


ImageWidget: type = FixedSixelImage if _AutoImage is SixelImage else _AutoImage
SHOWS_PIXELS = _AutoImage is SixelImage or _AutoImage.__name__ == "TGPImage"


def on_background(picture: PILImage.Image, box: tuple[int, int], background: tuple[int, int, int, float]
                  ) -> PILImage.Image:
    """The picture centred in a box of the background's colour (its transparent parts over it too)."""
    if picture.size == box and "A" not in picture.getbands() and "transparency" not in picture.info:
        return picture
    canvas = PILImage.new("RGB", box, tuple(int(v) for v in background[:3]))
    rgba = picture.convert("RGBA")
    canvas.paste(rgba, ((box[0] - picture.width) // 2, (box[1] - picture.height) // 2), rgba)
    return canvas


def fit_cells(width: int, height: int, max_cols: int, max_rows: int) -> tuple[int, int]:
    """The cells (columns, rows) a width x height picture fills at most, aspect kept, in this terminal's cells."""
    cell = get_cell_size()
    if width <= 0 or height <= 0 or max_cols <= 0 or max_rows <= 0:
        return max(1, max_cols), max(1, max_rows)
    scale = min(max_cols * cell.width / width, max_rows * cell.height / height)
    cols = min(max_cols, max(1, round(width * scale / cell.width)))
    rows = min(max_rows, max(1, round(height * scale / cell.height)))
    return cols, rows


def fitted(image: Any, max_cols: int, max_rows: int, **kwargs: Any) -> Widget:
    """An image widget sized to the picture inside a box of cells (class `picture`: redraw_pictures finds it)."""
    widget: Widget = ImageWidget(image, **kwargs)
    widget.add_class("picture")
    refit(widget, image, max_cols, max_rows)
    return widget


def redraw_pictures(screen: Widget) -> None:
    """Draw the pictures on SCREEN again, whole. A sixel is sent with its picture's last row of cells, so a
    repaint of only part of it (where a toast was, once it is gone) blanks those cells and leaves the sixel
    unsent: the picture stayed cut until something else redrew it."""
    for picture in screen.query(".picture"):
        picture.refresh()
        for part in picture.walk_children():  # the sixel is drawn by a child widget (textual-image's)
            part.refresh()


def refit(widget: Widget, image: Any, max_cols: int, max_rows: int) -> None:
    """Size (or size again, when its box changed) an image widget to its picture, aspect kept."""
    width, height = image.size
    cols, rows = fit_cells(width, height, max_cols, max_rows)
    widget.styles.width, widget.styles.height = cols, rows
