"""The status line: model, device, library size, indexing and captioning, redrawn from reactives.

Why reactives: the line used to be rebuilt by hand wherever something changed
and was easy to leave stale; now the app binds its state to these fields and
the line redraws itself whenever one of them changes.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from clipgit.core.names import display_name
from clipgit.tui.format import count


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

    def _redraw(self) -> None:
        text = Text()
        text.append(display_name(self.model), style="bold")
        if self.model_state == "loading":
            text.append(" · loading model…", style="cyan")
        elif self.model_state == "failed":
            text.append(" · model unavailable", style="red")
        else:
            text.append(f" · {self.device}")
        text.append(f" · {count(self.images, 'image')}")
        if self.index_status:
            text.append(f" · {self.index_status}", style="cyan")
        if self.caption_status:
            text.append(f" · {self.caption_status}", style="magenta")
        if self.text_status:
            text.append(f" · {self.text_status}", style="magenta")
        self.update(text)

    watch_model = watch_model_state = watch_device = watch_images = _redraw
    watch_index_status = watch_caption_status = watch_text_status = _redraw
