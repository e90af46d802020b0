"""The duplicates screen: groups of near-identical images side by side; mark some, then list or move them.

Why it never deletes: a person's photos are not ours to lose. Marked files are
written to a list, or moved to a folder the person names, after a
confirmation; moved files leave the library folders they were in, and those
are indexed again.
"""

from __future__ import annotations

import os
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import HorizontalScroll, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Label, Static

from clipgit.core.decode.photo_facts import capture_time
from clipgit.core.errors import ClipgitError
from clipgit.core.search.dupes import DupeFile, DupeGroup, move_files, write_list
from clipgit.tui.format import count, human_size, safe
from clipgit.tui.key_footer import KeyFooter
from clipgit.tui.messages import CopyPathRequested, IndexRequested, OpenRequested
from clipgit.tui.panes.grid import TILE_PX, Thumb
from clipgit.tui.screens.dialogs import ConfirmScreen, PathScreen

GROUPS_SHOWN = 200  # tiles are widgets: the screen shows the largest groups first, this many


class DupeTile(Vertical, can_focus=True):
    def __init__(self, file: DupeFile, thumbs: Any) -> None:
        super().__init__(classes="tile dupe-tile")
        self.file = file
        self.thumbs = thumbs
        self.marked = False

    def compose(self) -> ComposeResult:
        yield Thumb(self.file.path, TILE_PX, self.thumbs, classes="tile-thumb")
        yield Static(self._label(), classes="dupe-label")

    def _label(self) -> Text:
        f = self.file
        text = Text("✓ marked\n" if self.marked else "", style="bold yellow")
        text.append_text(safe(os.path.basename(f.path), "bold"))
        pixels = f"{f.width}×{f.height}" if f.width and f.height else "?"
        taken = capture_time(f.taken, f.taken_offset).strftime("%Y-%m-%d") if f.taken else ""  # the photo's day
        text.append(f"\n{pixels} · {human_size(f.size)}\n{taken}", style="dim")
        return text

    def toggle(self) -> None:
        self.marked = not self.marked
        self.set_class(self.marked, "-marked")
        self.query_one(".dupe-label", Static).update(self._label())


class DupeRow(HorizontalScroll, can_focus=False):
    """A group's files side by side; it scrolls sideways as the focus moves along it (the 5th tile at 120
    columns, the 8th at 160, were cut and could not be seen)."""


class DupesScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("down,j", "group(1)", "Next group", show=False, priority=True),
        Binding("up,k", "group(-1)", "Previous group", show=False, priority=True),
        Binding("question_mark", "keys", "Keys"),
        Binding("m,space", "mark", "Mark"),
        Binding("o", "open", "Open"),
        Binding("y", "copy_path", "Copy path"),
        Binding("w", "write_list", "Write marked to a list"),
        Binding("v", "move", "Move marked"),
        # before the row's own keys: a row wider than the screen (a HorizontalScroll) took Right to scroll itself
        # by a cell, and the focus never reached the next file
        Binding("right,l", "app.focus_next", "Next", show=False, priority=True),
        Binding("left,h", "app.focus_previous", "Previous", show=False, priority=True),
    ]

    class Found(Message):
        def __init__(self, groups: list[DupeGroup]) -> None:
            super().__init__()
            self.groups = groups

    def __init__(self, engine: Any, thumbs: Any, *, threshold: float = 0.95) -> None:
        super().__init__()
        self.engine, self.thumbs, self.threshold = engine, thumbs, threshold

    def compose(self) -> ComposeResult:
        yield Label("Near-duplicates", classes="pane-title")
        yield Label(f"looking for near-identical images (cosine ≥ {self.threshold}) and exact copies…",
                    id="dupes-info")
        yield VerticalScroll(id="dupes-groups")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._find()

    @work(thread=True, exit_on_error=False, group="dupes")
    def _find(self) -> None:
        self.post_message(self.Found(self.engine.duplicates(threshold=self.threshold)))

    async def on_dupes_screen_found(self, message: Found) -> None:
        groups = message.groups
        info = self.query_one("#dupes-info", Label)
        if not groups:
            info.update("no near-identical images in the library")
            return
        info.update(f"{count(len(groups), 'group')} · m marks · w writes the marked paths to a list · v moves the "
                    "marked files to a folder · clipgit never deletes a file")
        box = self.query_one("#dupes-groups", VerticalScroll)
        for number, group in enumerate(groups[:GROUPS_SHOWN], 1):
            kind = "exact copies" if group.exact else f"near-identical (cosine ≥ {group.similarity:.3f})"
            await box.mount(Vertical(Label(f"group {number}: {len(group.files)} files, {kind}", classes="dim"),
                                     DupeRow(*(DupeTile(f, self.thumbs) for f in group.files),
                                             classes="dupe-row"),
                                     classes="dupe-group"))
        tiles = list(self.query(DupeTile))
        if tiles:
            self.set_focus(tiles[0])

    def action_group(self, step: int) -> None:
        """Down and Up move to the next and previous group's first file (Down scrolled the page before)."""
        rows = list(self.query(DupeRow))
        tile = self._tile()
        if not rows:
            return
        here = next((i for i, row in enumerate(rows) if tile is not None and tile in row.children), -1)
        target = rows[max(0, min(len(rows) - 1, here + step))]
        tiles = list(target.query(DupeTile))
        if tiles:
            self.set_focus(tiles[0])
            if isinstance(target.parent, Vertical):
                target.parent.scroll_visible()  # the group's heading too

    def action_keys(self) -> None:
        from clipgit.tui.screens.help import HelpScreen

        rows = [("Duplicates", b.key.replace("question_mark", "?").replace(",", " / "), b.description)
                for b in self.BINDINGS if isinstance(b, Binding) and b.description]
        self.app.push_screen(HelpScreen(rows, title="Keys on the duplicates screen"))

    def _tile(self) -> DupeTile | None:
        return self.focused if isinstance(self.focused, DupeTile) else None

    def marked(self) -> list[str]:
        return [t.file.path for t in self.query(DupeTile) if t.marked]

    def action_mark(self) -> None:
        if (tile := self._tile()) is not None:
            tile.toggle()

    def action_open(self) -> None:
        if (tile := self._tile()) is not None:
            self.post_message(OpenRequested(tile.file.path))

    def action_copy_path(self) -> None:
        if (tile := self._tile()) is not None:
            self.post_message(CopyPathRequested(tile.file.path))

    def action_write_list(self) -> None:
        self._ask_then("Write the marked paths to a file", "~/duplicates.txt", "file",
                       "Write {paths} to {path}?", self._write)

    def action_move(self) -> None:
        self._ask_then("Move the marked files into a folder", "~/duplicates", "new-folder",
                       "Move {files} into {path}? (nothing is deleted)", self._move)

    def _ask_then(self, title: str, placeholder: str, want: str, question: str, act: Any) -> None:
        """Ask for a path, then for a confirmation, then act on the marked files."""
        paths = self.marked()
        if not paths:
            self.notify("mark some files first (m)", title="Duplicates")
            return

        def confirmed(path: str, yes: bool | None) -> None:
            if yes:
                act(paths, path)

        def chosen(path: str | None) -> None:
            if path:
                text = question.format(paths=count(len(paths), "marked path"),
                                       files=count(len(paths), "marked file"), path=path)
                self.app.push_screen(ConfirmScreen(Text(text)), lambda yes: confirmed(path, yes))

        self.app.push_screen(PathScreen(title, placeholder=placeholder, want=want,
                                        hint="Enter goes on (a confirmation comes first) · Esc cancels"), chosen)

    def _write(self, paths: list[str], target: str) -> None:
        try:
            written = write_list(paths, target)
        except ClipgitError as exc:
            self.notify(str(exc), title="Duplicates", severity="error")
            return
        self.notify(f"wrote {count(len(paths), 'path')} to {written}", title="Duplicates")

    def _move(self, paths: list[str], folder: str) -> None:
        try:
            moved = move_files(paths, folder)
        except ClipgitError as exc:
            self.notify(str(exc), title="Duplicates", severity="error")
            moved = []
        gone = {src for src, _ in moved}
        focused = self._tile()
        left = [t for t in self.query(DupeTile) if t.file.path not in gone]
        if focused is not None and focused.file.path in gone and left:  # the focus goes on to a file still here
            after = [t for t in left if t.region.y >= focused.region.y]
            self.set_focus((after or left)[0])
        for tile in list(self.query(DupeTile)):
            if tile.file.path in gone:
                tile.remove()
        if moved:
            self.notify(f"moved {count(len(moved), 'file')} into {folder}", title="Duplicates")
            self.post_message(IndexRequested(sorted({os.path.dirname(src) for src, _ in moved})))
