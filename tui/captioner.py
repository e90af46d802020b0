"""The app's captioning: a library job (tui/library_job.py) that also captions the selected image on demand.

The selected image is captioned at once (GIT runs on the engine's inference thread, interactive requests
first), the whole library in the background. If the caption model cannot load, the component says so once
and stops asking.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from textual.message import Message

from clipgit.core.errors import ModelUnavailable
from clipgit.tui.library_job import LibraryJob

if TYPE_CHECKING:
    from clipgit.core.ingest.caption_jobs import CaptionProgress


class Captioner(LibraryJob):
    DEFAULT_CSS = "Captioner { display: none; }"
    GROUP = "caption-library"
    NOUN = ("captions", "captioning")

    class Ready(Message):
        """A caption for the image the detail pane asked about (or why there is none)."""

        def __init__(self, path: str, caption: str | None, error: str | None) -> None:
            super().__init__()
            self.path, self.caption, self.error = path, caption, error

    class Unavailable(LibraryJob.Unavailable):
        """The caption model cannot be used; captions stop being asked for."""

    class Progressed(LibraryJob.Progressed):
        pass

    class Finished(LibraryJob.Finished):
        pass

    def wanted(self) -> bool:
        return bool(self.engine.settings.captions)

    def events(self, cancel: threading.Event) -> Iterator[CaptionProgress]:
        return self.engine.caption_library_iter(cancel, self.pause)

    # on demand ------------------------------------------------------------------
    def request(self, path: str) -> None:
        if self.unavailable is None:
            self.run_worker(lambda: self._one(path), thread=True, group="caption-one", exclusive=True,
                            exit_on_error=False)

    def _one(self, path: str) -> None:
        try:
            result = self.engine.caption([path])[0]
        except ModelUnavailable as exc:
            self.post_message(self.Unavailable(str(exc)))
            return
        self.post_message(self.Ready(path, result.caption, result.error))

    def on_captioner_unavailable(self, message: Unavailable) -> None:
        self._unavailable(message)

    def on_captioner_progressed(self, message: Progressed) -> None:
        self._progressed(message)

    def on_captioner_finished(self, message: Finished) -> None:
        self._finished(message)
