"""The help screen: every key, from tui/keys.py."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from clipgit.tui.format import MATCH_HELP
from clipgit.tui.keys import KEYS


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
        table.add_column("Where")
        table.add_column("Key", style="bold cyan", no_wrap=True)
        table.add_column("What it does")
        for where, key, what in KEYS:
            table.add_row(where, key, what)
        with Vertical(id="help-box", classes="dialog"):
            yield Label("Keys", classes="pane-title")
            yield Static(table)
            yield Static(MATCH_HELP, classes="dim")
            yield Label("Esc closes this help", classes="dim")
