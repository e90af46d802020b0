"""Detail pane: a large preview of the selected image and what we know of it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from clipgit.core.names import display_name
from clipgit.tui.format import human_size, match, safe, taken, when
from clipgit.tui.messages import CaptionRequested, GridRequested
from clipgit.tui.panes.image_actions import ImageActions

if TYPE_CHECKING:
    from PIL import Image

    from clipgit.core.engine import SearchResult
    from clipgit.tui.thumbs import ThumbnailCache

PIXEL_PREVIEW_PX = 768  # sixel / Kitty graphics draw real pixels
CELL_PREVIEW_PX = 200  # half-blocks show about 2 pixels a cell: decode no more than that
PREVIEW_ROWS = 20  # the detail picture's box is the pane's width and this many rows


def place_line(place: dict[str, object]) -> str:
    """"Baixa, Lisbon, Portugal (38.7108, -9.1366)": the district when it is not the city, the region when it
    is not the city either."""
    names = [str(place.get(k) or "") for k in ("locality", "city", "region", "country")]
    shown = [n for i, n in enumerate(names) if n and n not in names[:i]]
    lat, lon = place.get("lat"), place.get("lon")
    where = f" ({lat:.4f}, {lon:.4f})" if isinstance(lat, float) and isinstance(lon, float) else ""
    return (", ".join(shown) + where).strip()  # far from any town: the position alone


def preview_px() -> int:
    from clipgit.tui.preview import SHOWS_PIXELS

    return PIXEL_PREVIEW_PX if SHOWS_PIXELS else CELL_PREVIEW_PX


class DetailPane(ImageActions, VerticalScroll, can_focus=True):
    BINDINGS = [
        Binding("o", "open", "Open"),
        Binding("y", "copy_path", "Copy path (and text)"),
        Binding("s", "similar", "Similar"),
        Binding("g", "toggle_grid", "List/grid"),
    ]

    def __init__(self, thumbs: ThumbnailCache, show_images: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.thumbs = thumbs
        self.show_images = show_images
        self.result: SearchResult | None = None
        self.caption: str | None = None
        self.unavailable: str | None = None  # why captions cannot be written, once the captioner said so
        self._image: Image.Image | None = None  # the picture shown, to fit it again when the pane resizes

    def compose(self) -> ComposeResult:
        yield Static("Detail", classes="pane-title")
        yield Vertical(id="preview")
        yield Static("select a result to see it here", id="meta")

    async def show(self, result: SearchResult | None) -> None:
        same = self.result is not None and result is not None and self.result.path == result.path
        self.result = result
        if result is not None and result.caption is not None:
            self.caption = result.caption
        elif not same:
            self.caption = None
            if result is not None:
                unavailable = self.unavailable
                self.caption = f"(unavailable: {unavailable})" if unavailable else "writing a caption…"
                if not unavailable:
                    self.post_message(CaptionRequested(result.path))
        self._render_meta()
        if same:
            return
        preview = self.query_one("#preview", Vertical)
        await preview.remove_children()
        if result is None or not self.show_images:
            return
        path = result.path
        self.thumbs.request(path, preview_px(), lambda img: self._show_image(path, img))

    async def _show_image(self, path: str, img: Image.Image | str) -> None:
        if self.result is None or self.result.path != path or not self.is_attached:
            return
        preview = self.query_one("#preview", Vertical)
        await preview.remove_children()
        if isinstance(img, str):
            await preview.mount(Static(Text(f"cannot show this image: {img}", style="yellow")))
            return
        from clipgit.tui.preview import fitted

        self._image = img
        await preview.mount(fitted(img, preview.content_size.width or 40, PREVIEW_ROWS, id="preview-image"))

    def action_toggle_grid(self) -> None:
        """The results beside this pane switch between list and grid (the key works here too)."""
        self.post_message(GridRequested())

    def on_resize(self) -> None:
        """The pane's width changed: the picture is fitted again, aspect kept."""
        from clipgit.tui.preview import refit

        widgets = self.query("#preview-image")
        if self._image is not None and widgets:
            refit(widgets.first(), self._image, self.query_one("#preview").content_size.width or 40, PREVIEW_ROWS)

    def set_caption(self, path: str, caption: str | None) -> None:
        if self.result is not None and self.result.path == path:
            self.caption = caption
            self._render_meta()

    def caption_unavailable(self, reason: str) -> None:
        self.unavailable = reason
        if self.result is not None and (self.caption or "").startswith("writing"):
            self.caption = f"(unavailable: {reason})"
            self._render_meta()

    def _render_meta(self) -> None:
        meta = self.query_one("#meta", Static)
        r = self.result
        if r is None:
            meta.update("select a result to see it here")
            return
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        table.add_row("file", safe(os.path.basename(r.path)))
        table.add_row("folder", safe(os.path.dirname(r.path)))
        if r.width and r.height:
            table.add_row("pixels", f"{r.width} × {r.height}")
        table.add_row("size", human_size(r.size))
        table.add_row("taken", taken(r))
        if r.camera:
            table.add_row("camera", safe(r.camera))
        table.add_row("modified", when(r.mtime_ns / 1e9 if r.mtime_ns > 0 else None))
        table.add_row("match", match(r) + (" (CLIP cosine; ranked with the caption words)" if r.mode == "hybrid"
                                           else ""))
        if self.caption:
            table.add_row("caption", Text(self.caption, style="italic"))
        if r.place:
            table.add_row("place", safe(place_line(r.place)))
        if r.text:  # the pane scrolls: a long text (a receipt, a slide) is read by scrolling down
            table.add_row("text", Text("\n".join(display_name(line) for line in r.text.split("\n"))))
        meta.update(table)

    def action_copy_path(self) -> None:
        """`y`: the path, and the text read in the picture under it when there is some."""
        r = self.result
        if r is None or not r.text:
            super().action_copy_path()
            return
        self.app.copy_to_clipboard(f"{r.path}\n\n{r.text}")
        self.app.notify(f"copied {display_name(r.path)} and its text ({len(r.text.splitlines())} lines)",
                        title="Path and text copied")

    def shown(self) -> SearchResult | None:
        return self.result
