"""The results as a grid of thumbnails (`g`), and the thumbnail widget its tiles (and the duplicates screen's)
show.

Apart from the search pane, and imported the first time the grid is asked for: the list is what the app opens
on, and these widget classes and the grid's two widgets were a few ms more of its first paint.
"""

from __future__ import annotations

import builtins
import os
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from clipgit.tui.format import match, safe

if TYPE_CHECKING:
    from PIL import Image

    from clipgit.core.engine import SearchResult
    from clipgit.tui.thumbs import ThumbnailCache

TILE_PX = 192
GRID_MAX = 120  # tiles are widgets; the grid shows the best this many
TILE_COLS, TILE_ROWS = 14, 7  # a grid tile's picture box (its columns follow the tile's width)


def grid_area() -> VerticalScroll:
    """The grid in its scroll area, put in the search pane beside the list the first time `g` is pressed; hidden
    until the pane shows it in the list's place (not both, half each, for a frame)."""
    area = VerticalScroll(ResultsGrid(id="results-grid"), id="results-grid-scroll")
    area.display = False
    return area


class Thumb(Static):
    """A thumbnail that decodes in the background and swaps in an image widget."""

    def __init__(self, path: str, px: int, thumbs: ThumbnailCache | None, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.path, self.px, self.thumbs = path, px, thumbs
        self._image: Image.Image | None = None

    def on_mount(self) -> None:
        if self.thumbs is not None:
            self.thumbs.request(self.path, self.px, self._show)

    async def _show(self, img: Image.Image | str) -> None:
        if not self.is_attached:
            return
        if isinstance(img, str):
            self.update(Text("⚠", style="yellow"))
            self.tooltip = img
            return
        from clipgit.tui.preview import fitted

        self._image = img
        await self.mount(fitted(img, self.content_size.width or TILE_COLS, TILE_ROWS, classes="thumb-image"))

    def on_resize(self) -> None:
        """Laid out (or resized): the picture fits the tile's real width, aspect kept."""
        from clipgit.tui.preview import refit

        if self._image is not None and self.children and self.content_size.width:
            refit(self.children[0], self._image, self.content_size.width, TILE_ROWS)


class Tile(Vertical, can_focus=True):
    def __init__(self, result: SearchResult, index: int, thumbs: ThumbnailCache | None) -> None:
        super().__init__(classes="tile")
        self.result, self.index, self.thumbs = result, index, thumbs

    def compose(self) -> ComposeResult:
        yield Thumb(self.result.path, TILE_PX, self.thumbs, classes="tile-thumb")
        # the score first, as in the list's rows: a tile is narrower than a name, and the name is what is cut
        label = Text(f"{match(self.result).strip()} ", style="green")
        label.append_text(safe(os.path.basename(self.result.path)))
        yield Static(label, classes="tile-label")

    def on_focus(self) -> None:
        self.post_message(ResultsGrid.TileFocused(self))

    def on_click(self) -> None:
        self.focus()


class ResultsGrid(Widget, can_focus=False):
    """Tiles in rows; arrows and h/j/k/l move between them.

    As many columns as tiles with a square picture box fit: four fixed columns made a narrow pane's tiles
    twice as tall as wide in pixels, so every landscape photo was drawn a third of the tile's height."""

    columns = 4

    def on_resize(self, event: events.Resize) -> None:
        from textual_image._terminal import get_cell_size

        cell = get_cell_size()
        tile = round(TILE_ROWS * cell.height / max(1, cell.width)) + 2  # a square box, and the tile's border
        columns = max(1, (event.size.width + 1) // (tile + 1))  # a column of gutter between tiles
        if columns != self.columns:
            self.columns = columns
            self.styles.grid_size_columns = columns

    class TileFocused(Message):
        def __init__(self, tile: Tile) -> None:
            super().__init__()
            self.tile = tile

    def tiles(self) -> builtins.list[Tile]:
        return list(self.query(Tile))

    def on_key(self, event: events.Key) -> None:
        tiles = self.tiles()
        focused = self.app.focused
        if not tiles or not isinstance(focused, Tile):
            return
        if event.key in ("tab", "shift+tab"):  # between panes, as everywhere, not from tile to tile
            event.stop()
            chain = self.screen.focus_chain
            ours = [i for i, w in enumerate(chain) if isinstance(w, Tile)]
            self.app.set_focus(chain[(ours[-1] + 1) % len(chain)] if event.key == "tab" else chain[ours[0] - 1])
            return
        step = {"left": -1, "h": -1, "right": 1, "l": 1, "up": -self.columns, "k": -self.columns,
                "down": self.columns, "j": self.columns}.get(event.key)
        if step is None:
            return
        event.stop()
        target = max(0, min(len(tiles) - 1, focused.index + step))
        self.app.set_focus(tiles[target])
        tiles[target].scroll_visible()
