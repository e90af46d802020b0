"""The footer line of key hints, drawn as one widget.

Textual's `Footer` mounts a widget per key (and recomposes them all whenever the focus moves), which cost
about 170 ms of the app's first paint, more than everything else the app adds to a bare Textual app. This
draws the same line from the screen's active bindings as one `Text`, in the same colours (the footer's
theme variables), and a click on a key presses it, as a click on Textual's footer does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import events
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.screen import Screen

Hint = tuple[str, str, str, bool]  # key, key as shown, description, enabled
PALETTE_EDGE = "▏"  # Textual's footer draws its palette key with a `vkey` border on its left: this glyph


class KeyFooter(Widget, can_focus=False):
    """Key hints of the focused place, at the foot of the screen; the command palette's key on the right."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"key-footer--key", "key-footer--description", "key-footer--edge"}
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        .key-footer--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .key-footer--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        .key-footer--edge {
            color: $foreground 20%;
        }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._spans: list[tuple[int, int, str]] = []  # (first cell, end cell, key) of each hint, for clicks

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if self.is_attached and screen is self.screen:
            self.refresh()

    def hints(self) -> list[tuple[str, str, str, bool]]:
        """(key, key as shown, description, enabled) of each hint shown, left to right; the palette's last."""
        keys, palette = self._hints()
        return keys if palette is None else [*keys, palette]

    def _hints(self) -> tuple[list[Hint], Hint | None]:
        """The hints on the left, and the command palette's (docked right) apart."""
        shown: dict[str, Hint] = {}  # by action: one hint per action, as Textual's
        palette: Hint | None = None
        for key, (_node, binding, enabled, _tooltip) in self.screen.active_bindings.items():
            hint = (binding.key, self.app.get_key_display(binding), binding.description, enabled)
            if key == self.app.COMMAND_PALETTE_BINDING and self.app.ENABLE_COMMAND_PALETTE:
                palette = hint
            elif binding.show and binding.action not in shown:
                shown[binding.action] = hint
        return list(shown.values()), palette

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-footer--key")
        description_style = self.get_component_rich_style("key-footer--description")
        hints, palette = self._hints()
        line = Text(no_wrap=True, overflow="crop", end="")
        self._spans = []
        for key, shown, description, enabled in hints:
            start = line.cell_len
            part = Text.assemble((f" {shown} ", key_style), (f"{description} " if description else "",
                                                             description_style))
            if not enabled:
                part.stylize("dim")
            line.append_text(part)
            self._spans.append((start, line.cell_len, key))
        if palette is not None:
            key, shown, description, _enabled = palette
            tail = Text.assemble((PALETTE_EDGE, self.get_component_rich_style("key-footer--edge")),
                                 (f" {shown} ", key_style), (f"{description} ", description_style))
            gap = self.size.width - line.cell_len - tail.cell_len
            if gap >= 0:  # as Textual's footer: the palette key is docked right, and gives way when narrow
                line.append(" " * gap)
                start = line.cell_len
                line.append_text(tail)
                self._spans.append((start, line.cell_len, key))
        return line

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.app.simulate_key(key)
                return
