"""The app's reading of text in pictures: a non-visual component that owns its job, as `Captioner` owns captions.

With `ocr = true` (or `--ocr`) the whole library is read in the background once indexing ends, beside the
captions (both run on the engine's inference thread in turn, a search first), through the service when the app
uses one. `p` pauses it with the captions. If the OCR models cannot load, it says so once and stops. Its
progress messages replace each other in the queue; nothing it runs prints (the reader silences onnxruntime).
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
    from clipgit.core.ingest.ocr_jobs import OcrProgress


class TextReader(Widget):
    DEFAULT_CSS = "TextReader { display: none; }"

    class Unavailable(Message):
        """The OCR models cannot be used; the library is not read."""

        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    class Progressed(Message):
        def __init__(self, event: OcrProgress) -> None:
            super().__init__()
            self.event = event

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, TextReader.Progressed)

    class Finished(Message):
        def __init__(self, cancel: threading.Event) -> None:
            super().__init__()
            self.cancel = cancel  # which run: one stopped for an index run may end after the next has begun

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.unavailable: str | None = None
        self.running = False
        self.progress: OcrProgress | None = None
        self.pause = threading.Event()
        self._cancel = threading.Event()

    def start_background(self) -> None:
        if not self.engine.settings.ocr or self.unavailable is not None:
            return
        if self.running and not self._cancel.is_set():
            return
        self.running = True
        self._cancel = threading.Event()
        cancel = self._cancel
        self.run_worker(lambda: self._library(cancel), thread=True, group="ocr-library", exit_on_error=False)

    def _library(self, cancel: threading.Event) -> None:
        try:
            for event in self.engine.ocr_library_iter(cancel, self.pause):
                self.post_message(self.Progressed(event))
        except ModelUnavailable as exc:
            self.post_message(self.Unavailable(str(exc)))
        finally:
            self.post_message(self.Finished(cancel))

    def stop(self) -> None:
        self._cancel.set()

    def set_paused(self, paused: bool) -> None:
        if paused:
            self.pause.set()
        else:
            self.pause.clear()

    def on_text_reader_unavailable(self, message: Unavailable) -> None:
        if self.unavailable is not None:
            message.stop()
        self.unavailable = message.error

    def on_text_reader_progressed(self, message: Progressed) -> None:
        self.progress = message.event

    def on_text_reader_finished(self, message: Finished) -> None:
        if message.cancel is not self._cancel:
            message.stop()  # an earlier run's end: the current one goes on
            return
        self.running = False
        self.progress = None

    def status_text(self) -> str:
        p = self.progress
        if not self.running or p is None or not p.total:
            return ""
        if self.pause.is_set():
            return f"text paused at {p.done}/{p.total} (p resumes)"
        return f"reading text {p.done}/{p.total} · {p.rate:.2f}/s · {duration(p.eta)} left (p pauses)"
