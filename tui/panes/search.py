"""Search pane: one query input, results as a list or a grid of thumbnails."""

from __future__ import annotations

import os
from typing import Any

from PIL import Image
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Input, Label, ListItem, ListView, Static

from core.engine import SearchResult

from ..format import safe, short_folder

THUMB_PX = 96
TILE_PX = 192


class Thumb(Static):
    """A thumbnail that decodes in the background and swaps in an image widget."""

    def __init__(self, path: str, px: int, show_images: bool, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.path, self.px, self.show_images = path, px, show_images

    def on_mount(self) -> None:
        if not self.show_images:
            return
        thumbs = self.app.thumbs  # type: ignore[attr-defined]
        thumbs.request(self.path, self.px, self._show)

    async def _show(self, img: Image.Image | str) -> None:
        if not self.is_attached:
            return
        if isinstance(img, str):
            self.update(Text("⚠", style="yellow"))
            self.tooltip = img
            return
        from ..preview import ImageWidget

        await self.mount(ImageWidget(img, classes="thumb-image"))


class ResultItem(ListItem):
    def __init__(self, result: SearchResult, show_images: bool) -> None:
        super().__init__()
        self.result = result
        self.show_images = show_images

    def compose(self) -> ComposeResult:
        r = self.result
        with Horizontal(classes="result-row"):
            yield Thumb(r.path, THUMB_PX, self.show_images, classes="thumb")
            with Vertical(classes="result-text"):
                yield Static(safe(os.path.basename(r.path), "bold"), classes="result-name")
                yield Static(safe(short_folder(os.path.dirname(r.path)), "dim"), classes="result-folder")
            yield Static(Text(f"{r.score:.3f}"), classes="result-score")


class ResultsList(ListView):
    BINDINGS = [
        Binding("j", "cursor_down", show=False),
        Binding("k", "cursor_up", show=False),
    ]


class Tile(Vertical, can_focus=True):
    def __init__(self, result: SearchResult, index: int, show_images: bool) -> None:
        super().__init__(classes="tile")
        self.result, self.index, self.show_images = result, index, show_images

    def compose(self) -> ComposeResult:
        yield Thumb(self.result.path, TILE_PX, self.show_images, classes="tile-thumb")
        label = safe(os.path.basename(self.result.path))
        label.append(f" {self.result.score:.2f}", style="dim")
        label.truncate(24, overflow="ellipsis")
        yield Static(label, classes="tile-label")

    def on_focus(self) -> None:
        self.post_message(ResultsGrid.TileFocused(self))

    def on_click(self) -> None:
        self.focus()


class ResultsGrid(Widget, can_focus=False):
    """Tiles in rows; arrows and h/j/k/l move between them."""

    COLUMNS = 4

    class TileFocused(Message):
        def __init__(self, tile: Tile) -> None:
            super().__init__()
            self.tile = tile

    def tiles(self) -> list[Tile]:
        return list(self.query(Tile))

    def on_key(self, event: events.Key) -> None:
        tiles = self.tiles()
        focused = self.app.focused
        if not tiles or not isinstance(focused, Tile):
            return
        step = {"left": -1, "h": -1, "right": 1, "l": 1, "up": -self.COLUMNS, "k": -self.COLUMNS,
                "down": self.COLUMNS, "j": self.COLUMNS}.get(event.key)
        if step is None:
            return
        event.stop()
        target = max(0, min(len(tiles) - 1, focused.index + step))
        tiles[target].focus()
        tiles[target].scroll_visible()


class SearchPane(Vertical):
    BINDINGS = [
        Binding("s", "similar", "Similar"),
        Binding("g", "toggle_grid", "List/grid"),
        Binding("o", "open", "Open"),
        Binding("y", "copy_path", "Copy path"),
    ]

    def __init__(self, show_images: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.show_images = show_images
        self.results: list[SearchResult] = []
        self.grid = False

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search: words, an image path, or  beach + 2:sunset - people", id="query")
        yield Label("type to search", id="results-info")
        with ContentSwitcher(initial="results-list", id="results-switcher"):
            yield ResultsList(id="results-list")
            from textual.containers import VerticalScroll

            with VerticalScroll(id="results-grid-scroll"):
                yield ResultsGrid(id="results-grid")

    @property
    def list(self) -> ResultsList:
        return self.query_one(ResultsList)

    def set_info(self, text: str | Text) -> None:
        self.query_one("#results-info", Label).update(text)

    async def show_results(self, results: list[SearchResult], info: str) -> None:
        keep = self.selected()
        self.results = results
        await self.list.clear()
        await self.list.extend([ResultItem(r, self.show_images) for r in results])
        grid = self.query_one(ResultsGrid)
        await grid.remove_children()
        if self.grid:
            await self._fill_grid()
        if results:
            paths = [r.path for r in results]
            self.list.index = paths.index(keep.path) if keep and keep.path in paths else 0
        self.set_info(info)

    async def _fill_grid(self) -> None:
        grid = self.query_one(ResultsGrid)
        await grid.remove_children()
        await grid.mount_all([Tile(r, i, self.show_images) for i, r in enumerate(self.results)])

    def selected(self) -> SearchResult | None:
        if self.grid:
            focused = self.app.focused
            if isinstance(focused, Tile):
                return focused.result
            index = self.list.index
            return self.results[index] if index is not None and index < len(self.results) else None
        child = self.list.highlighted_child
        return child.result if isinstance(child, ResultItem) else None

    def focus_results(self) -> None:
        if self.grid:
            tiles = self.query_one(ResultsGrid).tiles()
            index = min(self.list.index or 0, len(tiles) - 1)
            if tiles:
                tiles[index].focus()
        else:
            self.list.focus()

    async def action_toggle_grid(self) -> None:
        self.grid = not self.grid
        switcher = self.query_one(ContentSwitcher)
        switcher.current = "results-grid-scroll" if self.grid else "results-list"
        if self.grid:
            await self._fill_grid()
        self.focus_results()

    def on_results_grid_tile_focused(self, message: ResultsGrid.TileFocused) -> None:
        self.list.index = message.tile.index  # keeps list and grid on the same image

    def action_similar(self) -> None:
        r = self.selected()
        if r is not None:
            self.app.search_similar(r.path)  # type: ignore[attr-defined]

    def action_open(self) -> None:
        r = self.selected()
        if r is not None:
            self.app.open_external(r.path)  # type: ignore[attr-defined]

    def action_copy_path(self) -> None:
        r = self.selected()
        if r is not None:
            self.app.copy_path(r.path)  # type: ignore[attr-defined]

    def on_key(self, event: events.Key) -> None:
        if event.key == "enter" and isinstance(self.app.focused, Tile):
            event.stop()
            self.app.open_detail()  # type: ignore[attr-defined]
        elif event.key == "down" and isinstance(self.app.focused, Input) and self.results:
            event.stop()
            self.focus_results()
