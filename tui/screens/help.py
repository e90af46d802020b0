"""The help screen: every key, from tui/keys.py."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from clipgit.tui.format import MATCH_HELP
from clipgit.tui.keys import KEYS


class HelpScreen(ModalScreen[None]):
    """The keys scroll (Down/Up, j/k, PageDown/PageUp, Home/End): at 80x24 about eight rows fit."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close"),
                Binding("j", "scroll('down')", show=False), Binding("k", "scroll('up')", show=False)]

    def __init__(self, rows: list[tuple[str, str, str]] | None = None, *, title: str = "Keys") -> None:
        """`rows`: (where, key, what) of the keys to show; every key of the app (tui/keys.py) by default."""
        super().__init__()
        self.rows = KEYS if rows is None else rows
        self.title_text = title

    def compose(self) -> ComposeResult:
        table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
        table.add_column("Where")
        table.add_column("Key", style="bold cyan", no_wrap=True)
        table.add_column("What it does")
        for where, key, what in self.rows:
            table.add_row(where, key, what)
        with Vertical(id="help-box", classes="dialog"):
            yield Label(self.title_text, classes="pane-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(table)
                if self.rows is KEYS:
                    yield Static(MATCH_HELP, classes="dim")
            yield Label("Down, PageDown, End scroll · Esc closes this help", classes="dim")

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def action_scroll(self, direction: str) -> None:
        scroll = self.query_one("#help-scroll", VerticalScroll)
        (scroll.scroll_down if direction == "down" else scroll.scroll_up)()
