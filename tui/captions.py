"""The app's captioning: the selected image on demand, the whole library in the background.

Both run as thread workers over the engine (GIT runs on the engine's
inference thread, interactive requests first); results come back as
messages. If the caption model cannot load, we say so once and stop asking.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from core.errors import ModelUnavailable

from .format import duration
from .messages import CaptionFailed, CaptionProgressed, CaptionReady, CaptionsFinished

if TYPE_CHECKING:
    from .app import ClipGitApp


class Captions:
    def __init__(self, app: "ClipGitApp") -> None:
        self.app = app
        self.unavailable: str | None = None
        self.running = False
        self.progress: object | None = None
        self.pause = threading.Event()
        self._cancel = threading.Event()

    # on demand ------------------------------------------------------------------
    def request(self, path: str) -> None:
        if self.unavailable is None:
            self.app.run_worker(lambda: self._one(path), thread=True, group="caption-one", exclusive=True,
                                exit_on_error=False)

    def _one(self, path: str) -> None:
        try:
            result = self.app.engine.caption([path])[0]
        except ModelUnavailable as exc:
            self.app.post_message(CaptionFailed(str(exc)))
            return
        self.app.post_message(CaptionReady(path, result.caption, result.error))

    # the library ------------------------------------------------------------------
    def start_background(self) -> None:
        if not self.app.engine.settings.captions or self.unavailable is not None or self.running:
            return
        self.running = True
        self._cancel = threading.Event()
        cancel = self._cancel
        self.app.run_worker(lambda: self._library(cancel), thread=True, group="caption-library",
                            exit_on_error=False)

    def _library(self, cancel: threading.Event) -> None:
        try:
            for event in self.app.engine.caption_library_iter(cancel, self.pause):
                self.app.post_message(CaptionProgressed(event))
        except ModelUnavailable as exc:
            self.app.post_message(CaptionFailed(str(exc)))
        finally:
            self.app.post_message(CaptionsFinished())

    def stop(self) -> None:
        self._cancel.set()

    def toggle_pause(self) -> bool:
        """Pause or resume background captioning; returns True when now paused."""
        if self.pause.is_set():
            self.pause.clear()
        else:
            self.pause.set()
        return self.pause.is_set()

    def status_text(self) -> str:
        p = self.progress
        if not self.running or p is None or not getattr(p, "total", 0):
            return ""
        if self.pause.is_set():
            return f"captions paused at {p.done}/{p.total} (p resumes)"  # type: ignore[attr-defined]
        return (f"captioning {p.done}/{p.total} · {p.rate:.2f}/s · "  # type: ignore[attr-defined]
                f"{duration(p.eta)} left (p pauses)")  # type: ignore[attr-defined]
