"""Actions on folders and files, mixed into the app: add, remove, skipped list, open, copy.

Kept apart from app.py so the app stays the router of messages. It holds no state: folders and indexing
belong to the LibraryKeeper component, which these requests are handed to.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import App

from clipgit.core.names import display_name
from clipgit.tui.format import safe
from clipgit.tui.library_keeper import LibraryKeeper
from clipgit.tui.messages import CopyPathRequested, OpenRequested, RemoveFolderRequested, SkippedRequested

if TYPE_CHECKING:
    from clipgit.core.engine import Engine
    _AppBase = App[None]
else:
    _AppBase = object


class LibraryActions(_AppBase):
    """Handles the panes' requests about folders and files (they bubble up to the app this is mixed into)."""

    engine: Engine
    library: LibraryKeeper

    def on_remove_folder_requested(self, message: RemoveFolderRequested) -> None:
        self.confirm_remove(message.path)

    def on_skipped_requested(self, message: SkippedRequested) -> None:
        self.show_skipped(message.path)

    def on_open_requested(self, message: OpenRequested) -> None:
        self.open_external(message.path)

    def on_copy_path_requested(self, message: CopyPathRequested) -> None:
        self.copy_path(message.path)

    def action_add_folder(self) -> None:
        def added(path: str | None) -> None:
            if path:
                self.library.start_index([path])

        from clipgit.tui.screens.dialogs import AddFolderScreen  # dialogs load when first opened

        self.push_screen(AddFolderScreen(), added)

    def confirm_remove(self, path: str) -> None:
        def answer(yes: bool | None) -> None:
            if yes:
                self.library.forget(path)

        question = Text("Remove ")
        question.append_text(safe(path, "bold"))
        question.append(" from the library? The images stay on disk.")
        from clipgit.tui.screens.dialogs import ConfirmScreen

        self.push_screen(ConfirmScreen(question), answer)

    def show_skipped(self, folder: str) -> None:
        self._skipped_worker(folder)

    @work(thread=True, group="skipped", exclusive=True, exit_on_error=False)
    def _skipped_worker(self, folder: str) -> None:
        skipped = self.engine.skipped(folder)
        from clipgit.tui.screens.dialogs import SkippedScreen

        self.call_from_thread(self.push_screen, SkippedScreen(folder, skipped))

    def open_external(self, path: str) -> None:
        opener = "open" if sys.platform == "darwin" else "xdg-open"
        if sys.platform.startswith("win"):
            os.startfile(path)  # type: ignore[attr-defined]
            return
        if shutil.which(opener) is None:
            self.notify(f"no {opener} here to open images with; the path is copied instead", severity="warning")
            self.copy_path(path)
            return
        subprocess.Popen([opener, path], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
        self.notify(Text.assemble("opening ", safe(Path(path).name)).plain)

    def copy_path(self, path: str) -> None:
        self.copy_to_clipboard(path)
        self.notify(f"copied {display_name(path)}", title="Path copied")

