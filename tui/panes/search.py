"""Search pane: one query input, results as a list or a grid of thumbnails (tui/panes/grid.py)."""

from __future__ import annotations

import asyncio
import builtins
import os
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from clipgit.core.search.history import QueryHistory
from clipgit.tui.format import match, safe, short_folder, wrap_parts
from clipgit.tui.halfblock import halfblock, placeholder
from clipgit.tui.messages import DetailRequested
from clipgit.tui.panes.image_actions import ImageActions
from clipgit.tui.panes.results_list import ResultsList

if TYPE_CHECKING:
    from PIL import Image
    from textual.containers import VerticalScroll

    from clipgit.core.engine import SearchResult
    from clipgit.tui.panes.grid import ResultsGrid, Tile
    from clipgit.tui.thumbs import ThumbnailCache

THUMB_PX = 48
THUMB_COLS, THUMB_ROWS = 6, 3


class SearchInput(Input):
    """The search box, with the `/` rule: a `/` that only jumps here is never typed.

    Why: pressing `/` first is the habit the footer teaches, also when the box already has focus (at
    launch); then `/a red circle` would search for a path. So in an empty box the first `/` since it got
    focus is the jump key; the next one is typed, so `/` `/home/me/x.jpg` still searches an absolute path.
    The app's `/` binding counts as that first `/`.
    """

    jumped = False
    history: QueryHistory | None = None
    _step: int | None = None  # where Up/Down stand in the history; None: at the query being typed
    _draft = ""  # that query, given back when Down passes the newest search
    _shown = ""  # the search recalled last: once the box holds anything else, that is the query being typed

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "slash" and not self.value and not self.jumped:
            self.jumped = True
            event.stop()
            event.prevent_default()
            return
        if event.key in ("up", "down") and self._recall(-1 if event.key == "up" else 1):
            event.stop()
            event.prevent_default()
            return
        await super()._on_key(event)

    def settle(self) -> None:
        """The query in the box is the one being typed now (a recalled one was searched)."""
        self._step = None

    def _recall(self, step: int) -> bool:
        """Up: an earlier search; Down: a later one, then the query being typed. False where there is
        nothing to step to (Down at the typed query then moves into the results, as before)."""
        entries = self.history.entries() if self.history is not None else []
        if self._step is not None and self.value != self._shown:
            self._step = None  # the recalled search was edited (typed, cut, pasted): a new query
        if not entries or (step > 0 and self._step is None):
            return False
        if self._step is None:
            self._draft, self._step = self.value, len(entries)
        self._step = max(0, self._step + step)
        if self._step >= len(entries):
            self._step, value = None, self._draft
        else:
            value = entries[self._step]
        self.value = self._shown = value  # its search runs, as when it was typed
        self.cursor_position = len(value)
        return True

    def _on_blur(self, event: events.Blur) -> None:
        self.jumped = False
        super()._on_blur(event)


def result_prompt(result: SearchResult, thumb: Text | None) -> Text:
    """Three lines: thumbnail | score, name / folder. Plain Text (cheap to measure in a long list);
    the score comes first so a long name is what gets cut. Names are text, never markup."""
    thumb = thumb or placeholder(THUMB_COLS, THUMB_ROWS)
    rows = thumb.split("\n")
    score = f" {match(result):>6}  "  # one width for 0.428 and -0.082: the names line up
    line1 = Text()
    line1.append(score, style="green")
    line1.append_text(safe(os.path.basename(result.path), "bold"))
    line2 = Text(" " * len(score))
    taken = result.taken_clock()
    if taken is not None:  # the capture date (the photo's own day) first: a long folder is what gets cut
        line2.append(taken.strftime("%Y-%m-%d  "), style="cyan")
    line2.append_text(safe(short_folder(os.path.dirname(result.path)), "dim"))
    out = Text(no_wrap=True, overflow="ellipsis", end="")
    for i, row in enumerate(rows):
        out.append_text(row)
        if i == 0:
            out.append_text(line1)
        elif i == 1:
            out.append_text(line2)
        if i < len(rows) - 1:
            out.append("\n")
    return out


class ResultRows:
    """Feeds a ResultsList: prompts at once, a thumbnail for each row when it is first drawn.

    Only drawn rows decode thumbnails, so a refresh of 100 results while a
    library indexes costs a dozen small decodes, not a hundred.
    """

    def __init__(self, view: ResultsList, thumbs: ThumbnailCache | None) -> None:
        self.view = view
        self.thumbs = thumbs
        self._generation = 0
        self._requested: set[int] = set()
        view.row_needed = self._row_needed

    def set_results(self, results: builtins.list[SearchResult], keep: str | None) -> None:
        if [(r.path, r.score) for r in results] == [(r.path, r.score) for r in self.view.results]:
            return  # a live refresh that changed nothing
        self._generation += 1
        self._requested = set()
        self.view.set_rows(results, [result_prompt(r, None) for r in results], keep)

    def _row_needed(self, index: int) -> None:
        if self.thumbs is None or index in self._requested or index >= len(self.view.results):
            return
        self._requested.add(index)
        generation, result = self._generation, self.view.results[index]
        self.thumbs.request(result.path, THUMB_PX, lambda img: self._thumb_ready(generation, index, result, img))

    def _thumb_ready(self, generation: int, index: int, result: SearchResult, img: Image.Image | str) -> None:
        if generation != self._generation or not self.view.is_attached:
            return
        thumb = placeholder(THUMB_COLS, THUMB_ROWS, "⚠") if isinstance(img, str) else halfblock(
            img, THUMB_COLS, THUMB_ROWS)
        self.view.set_prompt(index, result_prompt(result, thumb))


class InfoLine(Static):
    """The line over the results, broken between its parts (` · `) for the width it has, not inside one."""

    def __init__(self, text: str, **kwargs: Any) -> None:
        super().__init__(text, **kwargs)
        self.text: str | Text = text

    def show(self, text: str | Text) -> None:
        self.text = text
        self.update(wrap_parts(text, self.content_size.width) if isinstance(text, str) else text)

    def on_resize(self) -> None:
        self.show(self.text)


class SearchPane(ImageActions, Vertical):
    BINDINGS = [
        Binding("s", "similar", "Similar"),
        Binding("g", "toggle_grid", "List/grid"),
        Binding("o", "open", "Open"),
        Binding("y", "copy_path", "Copy path"),
    ]

    def __init__(self, thumbs: ThumbnailCache, show_images: bool = True, history: QueryHistory | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.history = history
        self.thumbs = thumbs if show_images else None  # None: no pictures (tests, snapshots)
        self.results: builtins.list[SearchResult] = []
        self.grid = False
        self._tiles_wanted = False  # Enter asked for the results before the grid had tiles: focus the first
        self._rows: ResultRows | None = None
        self._grid_lock = asyncio.Lock()  # one rebuild of the tiles at a time (see _rebuild_grid)
        self._grid_area: VerticalScroll | None = None  # the grid, once it has been asked for (grid_area())

    def compose(self) -> ComposeResult:
        yield Static("Results", classes="pane-title")
        field = SearchInput(placeholder="words, an image path, or beach + 2:sunset", id="query")
        field.history = self.history
        yield field
        yield InfoLine("type to search", id="results-info")
        yield ResultsList(keep_cols=THUMB_COLS, id="results-list")

    @property
    def list(self) -> ResultsList:
        return self.query_one(ResultsList)

    def set_info(self, text: str | Text) -> None:
        self.query_one("#results-info", InfoLine).show(text)

    async def show_results(self, results: builtins.list[SearchResult], info: str) -> None:
        keep = self.selected()
        self.results = results
        if self._rows is None:
            self._rows = ResultRows(self.list, self.thumbs)
        self._rows.set_results(results, keep.path if keep else None)
        focused = self.app.focused
        # the grid had the focus: a tile, or its scroll area (where the focus falls when a refresh removes a tile)
        tile_had_focus = self._focused_tile() is not None or focused is None or self._tiles_wanted or \
            (self.grid and focused is not None and focused.id == "results-grid-scroll")
        await self._rebuild_grid()
        if self.grid and tile_had_focus:  # the tiles were replaced under the focus: it goes to the kept image's tile
            self._tiles_wanted = False
            self.focus_results()
        self.set_info(info)

    async def _rebuild_grid(self) -> None:
        """The tiles of the results in grid mode, none in list mode. One rebuild at a time: a refresh's
        (from the app's task) and `g`'s (from this pane's) each await Textual's removing and mounting, and
        interleaved, the refresh took away the tiles `g` had just put up: an empty grid (seen in xterm, under
        load)."""
        async with self._grid_lock:
            if self._grid_area is None:
                return  # never shown: no tiles
            from clipgit.tui.panes.grid import GRID_MAX, Tile

            grid = self._grid()
            await grid.remove_children()
            if self.grid:
                await grid.mount_all([Tile(r, i, self.thumbs) for i, r in enumerate(self.results[:GRID_MAX])])

    def _grid(self) -> ResultsGrid:
        from clipgit.tui.panes.grid import ResultsGrid

        return self.query_one(ResultsGrid)

    def _focused_tile(self) -> Tile | None:
        if self._grid_area is None:
            return None  # no grid yet, so no tile (and its module not loaded for nothing)
        from clipgit.tui.panes.grid import Tile

        focused = self.app.focused
        return focused if isinstance(focused, Tile) else None

    def selected(self) -> SearchResult | None:
        if self.grid and (tile := self._focused_tile()) is not None:
            return tile.result
        return self.list.selected()

    def focus_results(self) -> None:
        if self.grid:
            tiles = self._grid().tiles()
            index = min(self.list.highlighted or 0, len(tiles) - 1)
            if tiles:
                self.app.set_focus(tiles[index])
            else:
                self._tiles_wanted = True
        else:
            self.app.set_focus(self.list)  # now, not deferred: the next key must land here

    async def action_toggle_grid(self) -> None:
        """The list and the grid take turns in one place (siblings in the pane, not in a ContentSwitcher: its
        container was 40 more lines to draw in the first frame); the grid is made the first time it is shown."""
        self.grid = not self.grid
        if self._grid_area is None:
            from clipgit.tui.panes.grid import grid_area

            self._grid_area = grid_area()
            await self.mount(self._grid_area)
        area = self._grid_area
        area.display = self.grid
        if self.grid and self.list.has_focus:  # to the grid's area, before a tile takes it (if there is one)
            self.app.set_focus(area)  # not to the search box, Textual's choice off a list about to be hidden
        self.list.display = not self.grid
        await self._rebuild_grid()
        self.focus_results()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if isinstance(event.widget, SearchInput):  # typing again: a refresh must not take the focus away
            self._tiles_wanted = False

    def on_results_grid_tile_focused(self, message: ResultsGrid.TileFocused) -> None:
        self.list.highlighted = message.tile.index  # keeps list and grid on the same image

    def remember(self, query: str) -> None:
        """A search the person moved on to the results of: the newest in the history (core/history.py)."""
        self.query_one(SearchInput).settle()
        if self.history is not None and query.strip():
            self._remember_worker(query)

    @work(thread=True, group="history", exit_on_error=False)
    def _remember_worker(self, query: str) -> None:
        if self.history is not None:
            self.history.add(query)

    def shown(self) -> SearchResult | None:
        return self.selected()

    def on_key(self, event: events.Key) -> None:
        if event.key == "enter" and self._focused_tile() is not None:
            event.stop()
            self.post_message(DetailRequested())
        elif event.key == "down" and isinstance(self.app.focused, Input) and self.results:
            event.stop()
            self.remember(self.app.focused.value)
            self.focus_results()
