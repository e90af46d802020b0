"""Small dialogs: add a folder (with path completion), confirm, skipped files."""

from __future__ import annotations

import os

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Label, Static

from clipgit.core.names import display_name


def complete_path(value: str) -> str | None:
    """VALUE with its last path component completed to the first folder that starts with it (and a `/`),
    or None where no folder does (or it names one already)."""
    expanded = os.path.expanduser(value)
    parent, prefix = os.path.split(expanded)
    try:
        names = sorted(e.name for e in os.scandir(parent or ".") if e.is_dir() and e.name.startswith(prefix)
                       and (prefix.startswith(".") or not e.name.startswith(".")))
    except OSError:
        return None
    if not names or (names == [prefix]):
        return None
    completed = os.path.join(parent, names[0]) + "/"
    if value.startswith("~"):
        home = os.path.expanduser("~")
        completed = "~" + completed[len(home):]
    return completed


class PathSuggester(Suggester):
    """Shows the completion of the last path component (greyed) while typing."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        return complete_path(value)


class PathScreen(ModalScreen[str | None]):
    """Asks for a path: an existing folder, or a file to write (its folder must exist)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("tab", "complete", "Complete", priority=True)]

    def __init__(self, title: str, *, placeholder: str = "~/Pictures", want: str = "folder",
                 hint: str = "Tab completes · Enter adds and indexes · Esc cancels") -> None:
        super().__init__()
        self.title_text, self.placeholder, self.want, self.hint = title, placeholder, want, hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="pane-title")
            yield Input(placeholder=self.placeholder, suggester=PathSuggester(), id="folder-input")
            yield Label(self.hint, classes="dim")
            yield Label("", id="folder-error")

    def action_complete(self) -> None:
        # Tab is taken as it arrives, maybe before the box has taken the keys typed just before it (a fast
        # typist, a paste): the completion is worked out once it has, from what it then holds, not from the
        # suggestion shown, which a worker computes later still
        field = self.query_one(Input)
        field.call_later(self._complete, field)

    def _complete(self, field: Input) -> None:
        completed = complete_path(field.value)
        if completed:
            field.value = completed
            field.cursor_position = len(field.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = os.path.abspath(os.path.expanduser(event.value.strip()))
        if self.want == "folder":
            problem = "" if event.value.strip() and os.path.isdir(path) else "not a folder"
        elif self.want == "new-folder":
            problem = "" if event.value.strip() and not os.path.isfile(path) else "not a folder"
        else:
            problem = "" if event.value.strip() and os.path.isdir(os.path.dirname(path)) and \
                not os.path.isdir(path) else "not a file in an existing folder"
        if problem:
            self.query_one("#folder-error", Label).update(Text(f"{problem}: {display_name(event.value)}",
                                                               style="red"))
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)


class AddFolderScreen(PathScreen):
    def __init__(self) -> None:
        super().__init__("Add a folder to the library")


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: Text) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question)
            yield Label("y: yes · n / Esc: no", classes="dim")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class SkippedScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,e", "dismiss", "Close")]

    def __init__(self, folder: str, skipped: list[tuple[str, str]]) -> None:
        super().__init__()
        self.folder, self.skipped = folder, skipped

    def compose(self) -> ComposeResult:
        table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
        table.add_column("File")
        table.add_column("Why it was skipped")
        prefix = self.folder.rstrip("/") + "/"
        for path, reason in self.skipped:
            shown = path[len(prefix):] if path.startswith(prefix) else path
            table.add_row(Text(display_name(shown)), Text(reason))
        with Vertical(classes="dialog wide"):
            yield Label(Text(f"Skipped in {display_name(self.folder)}: {len(self.skipped)}"),
                        classes="pane-title")
            with VerticalScroll():
                yield Static(table if self.skipped else Text("nothing was skipped"))
            yield Label("Esc closes", classes="dim")
