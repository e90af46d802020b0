"""The image widget: textual-image's best method for this terminal, with our sixel fix.

textual-image probes the terminal when `textual_image.widget` is imported,
so run_app imports this module before App.run().
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.control import Control
from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual_image.widget import Image as _AutoImage
from textual_image.widget import SixelImage
from textual_image.widget.sixel import _ImageSixelImpl, _NoopRenderable


class _FixedSixelImpl(_ImageSixelImpl):
    def _get_sixel_segments(self, sixel_data: str) -> Iterable[Segment]:
        # textual-image 0.12 moves the cursor to (right, bottom) after the sixel data; bottom is one row past
        # the image, so the row below it was left unpainted. Park the cursor on the image's last row instead.
        segments = list(super()._get_sixel_segments(sixel_data))
        region = self.screen.find_widget(self).visible_region
        segments[-1] = Segment(Control.move_to(region.right, max(region.y, region.bottom - 1)).segment.text,
                               style=Style())
        return segments


class FixedSixelImage(SixelImage, Renderable=_NoopRenderable):
    def compose(self) -> ComposeResult:
        yield _FixedSixelImpl(self.image, self._sixel_options)


ImageWidget: type = FixedSixelImage if _AutoImage is SixelImage else _AutoImage
SHOWS_PIXELS = _AutoImage is SixelImage or _AutoImage.__name__ == "TGPImage"
