"""Library pane: the folders, their counts and indexing state."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widgets import ListItem, ListView, Static

from clipgit.core.names import display_name, within
from clipgit.tui.format import bar, count, duration, short_folder, wrap_path
from clipgit.tui.messages import IndexRequested, RemoveFolderRequested, SkippedRequested

if TYPE_CHECKING:
    from clipgit.core.engine import FolderInfo
    from clipgit.core.ingest.indexer import IndexProgress


class FolderText(Static):
    """A folder's lines, made for the width they get: its path breaks after a `/` (wrapped as words, a path
    with no spaces broke mid-name: `/tmp/polish-dat` `a/demo/gallery`)."""

    def __init__(self, make: Callable[[int], Text]) -> None:
        super().__init__(make(0), classes="folder-text")
        self.make = make

    def redraw(self) -> None:
        self.update(self.make(self.content_size.width))

    def on_resize(self) -> None:
        self.redraw()


class FolderItem(ListItem):
    def __init__(self, info: FolderInfo) -> None:
        super().__init__()
        self.info = info
        self.progress: IndexProgress | None = None
        self.queued = False

    def compose(self) -> ComposeResult:
        yield FolderText(self._text)

    def update_info(self, info: FolderInfo | None = None, progress: IndexProgress | None = None,
                    queued: bool | None = None) -> None:
        if info is not None:
            self.info = info
        self.progress = progress
        if queued is not None:
            self.queued = queued
        for text in self.query(FolderText).results(FolderText):  # none yet (not composed) or any more (closing)
            text.redraw()

    def _text(self, width: int = 0) -> Text:
        """WIDTH: the cells a line has (0: not laid out yet, the path on one line)."""
        info = self.info
        text = Text(wrap_path(display_name(short_folder(info.path)), width), style="bold")  # names shown as text
        text.append("\n")
        p = self.progress
        if p is not None and p.phase == "embedding" and p.total:
            text.append(f"{bar(p.done / p.total)} {p.done}/{p.total}\n", style="cyan")
            text.append(f"{p.rate:.1f} img/s · {duration(p.eta)} left", style="cyan")
        elif p is not None and p.phase == "waiting":
            text.append("waiting for another index run…", style="cyan")
        elif p is not None:
            text.append("scanning…", style="cyan")
        elif self.queued:
            text.append("waiting to index…", style="cyan")
        else:
            text.append(count(info.images, "image"), style="green" if info.exists else "red")
            if not info.exists:
                text.append(" · folder missing", style="red")
            elif info.empty:
                text.append(" · folder empty: not mounted?", style="red")
        if info.skipped and p is None:
            text.append(f"\n{info.skipped} skipped (e: list)", style="yellow")
        return text


class LibraryPane(Vertical):
    BINDINGS = [
        Binding("d", "remove_folder", "Remove"),
        Binding("r", "rescan", "Rescan"),
        Binding("R", "rescan_all", "Rescan all", show=False),
        Binding("e", "show_skipped", "Skipped files"),
        Binding("j", "cursor_down", show=False),
        Binding("k", "cursor_up", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Static("Library", classes="pane-title")
        # under the title, where the eye starts: below the empty list it sat at the pane's foot
        yield Static("no folders yet: press a to add one", id="library-empty")
        yield ListView(id="folders")

    @property
    def list(self) -> ListView:
        return self.query_one("#folders", ListView)

    def items(self) -> builtins.list[FolderItem]:
        """The folders shown; none while the pane is taken down as the app closes (its list goes first, and
        a run's progress or a folder list may still arrive then)."""
        try:
            folders = self.list
        except NoMatches:
            return []
        return [c for c in folders.children if isinstance(c, FolderItem)]

    def selected(self) -> FolderInfo | None:
        child = self.list.highlighted_child
        return child.info if isinstance(child, FolderItem) else None

    async def set_folders(self, folders: builtins.list[FolderInfo]) -> None:
        current = {item.info.path: item for item in self.items()}
        wanted = [f.path for f in folders]
        if builtins.list(current) == wanted:
            for f in folders:
                current[f.path].update_info(f, current[f.path].progress)
        else:
            index = self.list.index
            await self.list.clear()
            await self.list.extend([FolderItem(f) for f in folders])
            if folders:
                self.list.index = min(index or 0, len(folders) - 1)
        self.query("#library-empty").set(display=not folders)  # none as the app closes: nothing to do

    def show_progress(self, event: IndexProgress) -> None:
        if event.phase == "done":  # the run's last event names only its last folder: the run is over for all
            self.clear_progress()
            return
        for item in self.items():
            if within(event.folder, item.info.path):
                item.update_info(progress=event, queued=False)

    def clear_progress(self) -> None:
        """No run is going on: each folder shows its figures again (a run over several folders reports
        'scanning' for each, and its end for the last one only)."""
        for item in self.items():
            if item.progress is not None:
                item.update_info(progress=None, queued=False)

    def mark_queued(self, paths: builtins.list[str]) -> None:
        for item in self.items():
            if item.info.path in paths:
                item.update_info(queued=True)

    def action_cursor_down(self) -> None:
        self.list.action_cursor_down()

    def action_cursor_up(self) -> None:
        self.list.action_cursor_up()

    def action_remove_folder(self) -> None:
        info = self.selected()
        if info is not None:
            self.post_message(RemoveFolderRequested(info.path))

    def action_rescan(self) -> None:
        info = self.selected()
        if info is not None:
            self.post_message(IndexRequested([info.path]))

    def action_rescan_all(self) -> None:
        self.post_message(IndexRequested([i.info.path for i in self.items()]))

    def action_show_skipped(self) -> None:
        info = self.selected()
        if info is not None:
            self.post_message(SkippedRequested(info.path))

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        event.stop()
        self.action_show_skipped()
