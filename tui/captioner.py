"""The app's captioning: a non-visual component that owns its state, runs its own workers, posts its messages.

The selected image is captioned on demand, the whole library in the
background (GIT runs on the engine's inference thread, interactive requests
first). If the caption model cannot load, the component says so once and
stops asking. Its progress messages replace each other in the queue, so a
fast caption run never floods the interface.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from textual.message import Message
from textual.widget import Widget

from clipgit.core.errors import ModelUnavailable
from clipgit.core.progress import duration

if TYPE_CHECKING:
    from clipgit.core.engine import Engine
    from clipgit.core.ingest.caption_jobs import CaptionProgress


class Captioner(Widget):
    DEFAULT_CSS = "Captioner { display: none; }"

    class Ready(Message):
        """A caption for the image the detail pane asked about (or why there is none)."""

        def __init__(self, path: str, caption: str | None, error: str | None) -> None:
            super().__init__()
            self.path, self.caption, self.error = path, caption, error

    class Unavailable(Message):
        """The caption model cannot be used; captions stop being asked for."""

        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    class Progressed(Message):
        def __init__(self, event: CaptionProgress) -> None:
            super().__init__()
            self.event = event

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, Captioner.Progressed)

    class Finished(Message):
        pass

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.unavailable: str | None = None
        self.running = False
        self.progress: CaptionProgress | None = None
        self.pause = threading.Event()
        self._cancel = threading.Event()

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

    # the library ------------------------------------------------------------------
    def start_background(self) -> None:
        if not self.engine.settings.captions or self.unavailable is not None or self.running:
            return
        self.running = True
        self._cancel = threading.Event()
        cancel = self._cancel
        self.run_worker(lambda: self._library(cancel), thread=True, group="caption-library", exit_on_error=False)

    def _library(self, cancel: threading.Event) -> None:
        try:
            for event in self.engine.caption_library_iter(cancel, self.pause):
                self.post_message(self.Progressed(event))
        except ModelUnavailable as exc:
            self.post_message(self.Unavailable(str(exc)))
        finally:
            self.post_message(self.Finished())

    def stop(self) -> None:
        self._cancel.set()

    def toggle_pause(self) -> bool:
        """Pause or resume background captioning; returns True when now paused."""
        if self.pause.is_set():
            self.pause.clear()
        else:
            self.pause.set()
        return self.pause.is_set()

    # its own messages first: state here, then they bubble on to the app ------------------
    def on_captioner_unavailable(self, message: Unavailable) -> None:
        if self.unavailable is not None:
            message.stop()  # said once is enough
        self.unavailable = message.error

    def on_captioner_progressed(self, message: Progressed) -> None:
        self.progress = message.event

    def on_captioner_finished(self, message: Finished) -> None:
        self.running = False
        self.progress = None

    def status_text(self) -> str:
        p = self.progress
        if not self.running or p is None or not p.total:
            return ""
        if self.pause.is_set():
            return f"captions paused at {p.done}/{p.total} (p resumes)"
        return f"captioning {p.done}/{p.total} · {p.rate:.2f}/s · {duration(p.eta)} left (p pauses)"
