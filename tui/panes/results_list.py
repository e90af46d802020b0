"""The results list: a virtual list of three-line rows that renders only what is visible.

Why not OptionList or a widget per row: both re-measure or re-mount every row
when one thumbnail arrives, which stalled key echo by 100-300 ms while a
library indexed. Rows here have a fixed height, so a thumbnail arriving
re-renders one row and nothing else, and 1,000 results scroll smoothly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

if TYPE_CHECKING:
    from clipgit.core.engine import SearchResult


ROW_HEIGHT = 3


class ResultsList(ScrollView, can_focus=True):
    BINDINGS = [
        Binding("down,j", "cursor_down", show=False),
        Binding("up,k", "cursor_up", show=False),
        Binding("pagedown", "page_down", show=False),
        Binding("pageup", "page_up", show=False),
        Binding("home", "first", show=False),
        Binding("end", "last", show=False),
        Binding("enter", "select", show=False),
    ]
    COMPONENT_CLASSES = {"results-list--highlight"}
    DEFAULT_CSS = """
    ResultsList { overflow-x: hidden; }
    ResultsList > .results-list--highlight {
        color: $block-cursor-blurred-foreground;
        background: $block-cursor-blurred-background;
    }
    ResultsList:focus > .results-list--highlight {
        color: $block-cursor-foreground;
        background: $block-cursor-background;
    }
    """

    highlighted: reactive[int | None] = reactive(None, always_update=True)

    class Highlighted(Message):
        def __init__(self, result: SearchResult | None) -> None:
            super().__init__()
            self.result = result

    class Selected(Message):
        def __init__(self, result: SearchResult) -> None:
            super().__init__()
            self.result = result

    def __init__(self, keep_cols: int = 0, **kwargs: Any) -> None:
        """keep_cols: leading columns (the thumbnail) that the highlight must not recolour."""
        super().__init__(**kwargs)
        self.keep_cols = keep_cols
        self.row_needed: Callable[[int], None] | None = None  # told when a row is first drawn
        self.results: list[SearchResult] = []
        self.prompts: list[Text] = []
        self._cache: dict[tuple[int, int, bool], list[Strip]] = {}
        self._blank: Strip | None = None  # an empty row, as drawn now (render_line)

    # content -------------------------------------------------------------------
    def set_rows(self, results: list[SearchResult], prompts: list[Text], keep: str | None) -> None:
        self.results, self.prompts = results, prompts
        self._cache.clear()
        self.virtual_size = Size(self.size.width, len(results) * ROW_HEIGHT)
        paths = [r.path for r in results]
        self.highlighted = (paths.index(keep) if keep in paths else 0) if results else None
        self.refresh()

    def set_prompt(self, index: int, prompt: Text) -> None:
        if index >= len(self.prompts):
            return
        self.prompts[index] = prompt
        for key in [k for k in self._cache if k[0] == index]:
            del self._cache[key]
        self.refresh(self._row_region(index))

    def selected(self) -> SearchResult | None:
        i = self.highlighted
        return self.results[i] if i is not None and 0 <= i < len(self.results) else None

    # rendering -------------------------------------------------------------------
    def _row_region(self, index: int) -> Region:
        return Region(0, index * ROW_HEIGHT - self.scroll_offset.y, self.size.width, ROW_HEIGHT)

    def render_lines(self, crop: Region) -> list[Strip]:
        """Textual asks `render_line` for each row of the crop: the empty rows share one strip for this drawing
        (the style, asked of each empty row, was most of the empty list's ~8 ms in the first frame); made again
        for the next drawing, as the style follows the focus and the theme."""
        self._blank = None
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        row_y = y + self.scroll_offset.y
        index, line = divmod(row_y, ROW_HEIGHT)
        width = self.size.width
        if index >= len(self.prompts):
            if self._blank is None or self._blank.cell_length != width:
                self._blank = Strip.blank(width, self.rich_style)
            return self._blank
        selected = index == self.highlighted
        key = (index, width, selected)
        strips = self._cache.get(key)
        if strips is None:
            strips = self._render_row(index, width, selected)
            self._cache[key] = strips
        return strips[line]

    def _render_row(self, index: int, width: int, selected: bool) -> list[Strip]:
        if self.row_needed is not None:
            self.row_needed(index)
        console = self.app.console
        options = console.options.update(width=width, height=ROW_HEIGHT, no_wrap=True, overflow="ellipsis")
        base = self.rich_style
        lines = console.render_lines(self.prompts[index], options, style=base, pad=True)
        strips = [Strip(line, width) for line in lines[:ROW_HEIGHT]]
        while len(strips) < ROW_HEIGHT:
            strips.append(Strip.blank(width, base))
        if selected:
            highlight = self.get_component_rich_style("results-list--highlight")
            over = Style(color=highlight.color, bgcolor=highlight.bgcolor, bold=True)
            k = min(self.keep_cols, width)
            strips = [Strip.join([s.crop(0, k), Strip(list(Segment.apply_style(iter(s.crop(k, width)),
                                                                               post_style=over)))])
                      for s in strips]
        return strips

    def on_resize(self, event: events.Resize) -> None:
        self._cache.clear()
        self.virtual_size = Size(event.size.width, len(self.results) * ROW_HEIGHT)

    def watch_highlighted(self, old: int | None, new: int | None) -> None:
        for index in (old, new):
            if index is not None:
                self._cache = {k: v for k, v in self._cache.items() if k[0] != index}
                self.refresh(self._row_region(index))
        if new is not None:
            self.scroll_to_region(Region(0, new * ROW_HEIGHT, 1, ROW_HEIGHT), animate=False)
        self.post_message(self.Highlighted(self.selected()))

    # keys and mouse --------------------------------------------------------------
    def _move(self, delta: int) -> None:
        if not self.results:
            return
        current = self.highlighted if self.highlighted is not None else 0
        self.highlighted = max(0, min(len(self.results) - 1, current + delta))

    def action_cursor_down(self) -> None:
        self._move(1)

    def action_cursor_up(self) -> None:
        self._move(-1)

    def action_page_down(self) -> None:
        self._move(max(1, self.size.height // ROW_HEIGHT))

    def action_page_up(self) -> None:
        self._move(-max(1, self.size.height // ROW_HEIGHT))

    def action_first(self) -> None:
        self._move(-len(self.results))

    def action_last(self) -> None:
        self._move(len(self.results))

    def action_select(self) -> None:
        result = self.selected()
        if result is not None:
            self.post_message(self.Selected(result))

    def on_click(self, event: events.Click) -> None:
        index = (event.y + self.scroll_offset.y) // ROW_HEIGHT
        if 0 <= index < len(self.results):
            if index == self.highlighted and event.chain > 1:
                self.action_select()
            self.highlighted = index
