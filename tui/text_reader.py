"""The app's reading of text in pictures: a library job (tui/library_job.py), as captions are.

With `ocr = true` (or `--ocr`) the whole library is read in the background once indexing ends, beside the
captions (both run on the engine's inference thread in turn, a search first), through the service when the app
uses one. `p` pauses it with the captions. If the OCR models cannot load, it says so once and stops; nothing
it runs prints (the reader silences onnxruntime).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from clipgit.tui.library_job import LibraryJob

if TYPE_CHECKING:
    from clipgit.core.ingest.ocr_jobs import OcrProgress


class TextReader(LibraryJob):
    DEFAULT_CSS = "TextReader { display: none; }"
    GROUP = "ocr-library"
    NOUN = ("text", "reading text")

    class Unavailable(LibraryJob.Unavailable):
        """The OCR models cannot be used; the library is not read."""

    class Progressed(LibraryJob.Progressed):
        pass

    class Finished(LibraryJob.Finished):
        pass

    def wanted(self) -> bool:
        return bool(self.engine.settings.ocr)

    def events(self, cancel: threading.Event) -> Iterator[OcrProgress]:
        return self.engine.ocr_library_iter(cancel, self.pause)

    def on_text_reader_unavailable(self, message: Unavailable) -> None:
        self._unavailable(message)

    def on_text_reader_progressed(self, message: Progressed) -> None:
        self._progressed(message)

    def on_text_reader_finished(self, message: Finished) -> None:
        self._finished(message)
