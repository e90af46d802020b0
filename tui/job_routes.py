"""The background jobs' messages, routed: captions and text in pictures, mixed into the app.

Kept apart from app.py as library_actions.py is, and like it holding no state: the jobs belong to the
`Captioner` and `TextReader` components; this turns what they report into the status line, the detail pane
and notices, and refreshes the results their work changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import App

from clipgit.tui.captioner import Captioner
from clipgit.tui.messages import CaptionRequested
from clipgit.tui.panes.detail import DetailPane
from clipgit.tui.text_reader import TextReader

if TYPE_CHECKING:
    from clipgit.core.engine import Engine
    _AppBase = App[None]
else:
    _AppBase = object


class JobRoutes(_AppBase):
    """Handles what the caption and text jobs report (their messages bubble up to the app this is mixed into)."""

    engine: Engine
    captions: Captioner
    texts: TextReader
    caption_status: str
    text_status: str

    if TYPE_CHECKING:
        def refresh_results(self) -> None:
            """search_routes.py's: search the query shown again, quietly (the jobs' work changes what it finds)."""

    # captions ---------------------------------------------------------------------------------
    def on_caption_requested(self, message: CaptionRequested) -> None:
        self.captions.request(message.path)

    def on_captioner_ready(self, message: Captioner.Ready) -> None:
        text = message.caption if message.caption is not None else f"(no caption: {message.error})"
        self.query_one(DetailPane).set_caption(message.path, text)

    def on_captioner_unavailable(self, message: Captioner.Unavailable) -> None:
        self.query_one(DetailPane).caption_unavailable(message.error)
        self.notify(message.error, title="Captions unavailable", severity="warning", timeout=20)

    def on_captioner_progressed(self, message: Captioner.Progressed) -> None:
        self.caption_status = self.captions.status_text()

    def on_captioner_finished(self, message: Captioner.Finished) -> None:
        self.caption_status = ""
        self.refresh_results()  # captions change hybrid results

    # text in pictures -------------------------------------------------------------------------
    def on_text_reader_unavailable(self, message: TextReader.Unavailable) -> None:
        self.notify(message.error, title="Text reading unavailable", severity="warning", timeout=20)

    def on_text_reader_progressed(self, message: TextReader.Progressed) -> None:
        self.text_status = self.texts.status_text()

    def on_text_reader_finished(self, message: TextReader.Finished) -> None:
        self.text_status = ""
        self.refresh_results()  # text changes text: filters and hybrid results

    def action_pause_captions(self) -> None:
        """`p`: pause or resume the background jobs, captions and text reading together."""
        if not self.captions.running and not self.texts.running:
            on = self.engine.settings.captions or self.engine.settings.ocr
            self.notify("no captioning or text reading is running: every indexed image is done" if on
                        else "no captioning is running (turn it on with captions = true, text with ocr = true)",
                        title="Captions")
            return
        paused = not (self.captions if self.captions.running else self.texts).pause.is_set()
        for job in (self.captions, self.texts):
            job.set_paused(paused)
        what = "captioning" if self.captions.running else "text reading"
        self.notify(f"{what} paused" if paused else f"{what} resumed", title="Captions")
        self.caption_status = self.captions.status_text()
        self.text_status = self.texts.status_text()
