"""The status line: model, device, library size, indexing and captioning, redrawn from reactives.

Why reactives: the line used to be rebuilt by hand wherever something changed
and was easy to leave stale; now the app binds its state to these fields and
the line redraws itself whenever one of them changes.
"""

from __future__ import annotations

import re

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from clipgit.core.names import display_name
from clipgit.tui.format import count

# what a narrow line leaves out: " (p pauses)" (the help screen, ?, lists the key), then " · 7.41/s" (the ETA stays)
_CUTS = (re.compile(r" \(p [a-z]+\)"), re.compile(r" · [0-9.]+(?: [a-z]+)?/s"))


class StatusLine(Static):
    model: reactive[str] = reactive("")
    model_state: reactive[str] = reactive("loading")  # loading | ready | failed
    device: reactive[str] = reactive("")
    images: reactive[int] = reactive(0)
    index_status: reactive[str] = reactive("")
    caption_status: reactive[str] = reactive("")
    text_status: reactive[str] = reactive("")

    def on_mount(self) -> None:
        self._redraw()

    def on_resize(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        """The whole line where it fits; in a narrow terminal (80 columns) the work in progress comes first: the
        model and device go, then the key hints, then the rates, so "reading text 48/60 · 0:01 left" is never
        cut off."""
        width = self.size.width or 1_000
        for head, short in ((True, 0), (False, 0), (False, 1), (False, 2)):
            line = self._line(head, short)
            if line.cell_len <= width:
                break
        self.update(line)

    def _line(self, head: bool, short: int) -> Text:
        text = Text()
        if head:
            text.append(display_name(self.model), style="bold")
            if self.model_state == "loading":
                text.append(" · loading model…", style="cyan")
            elif self.model_state == "failed":
                text.append(" · model unavailable", style="red")
            else:
                text.append(f" · {self.device}")
            text.append(" · ")
        elif self.model_state != "ready":
            text.append("loading model… · " if self.model_state == "loading" else "model unavailable · ",
                        style="cyan" if self.model_state == "loading" else "red")
        text.append(count(self.images, "image"))
        for status, style in ((self.index_status, "cyan"), (self.caption_status, "magenta"),
                              (self.text_status, "magenta")):
            if status:
                for cut in _CUTS[:short]:
                    status = cut.sub("", status)
                text.append(f" · {status}", style=style)
        return text

    watch_model = watch_model_state = watch_device = watch_images = _redraw
    watch_index_status = watch_caption_status = watch_text_status = _redraw
