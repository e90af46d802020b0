"""The engine's words about pictures: GIT captions and the text OCR reads in them, mixed into Engine.

Its own module because the two jobs share their shape (one picture now, or the whole library in the
background, through the cache in the catalog, on the inference thread behind a search) and nothing of the
index run or of search; apart, engine.py keeps the plumbing, indexing and searching. It holds no state of
its own: the attributes below are Engine's.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from clipgit.core.inference import BATCH, INTERACTIVE, InferenceThread
from clipgit.core.ingest.caption_jobs import Captioned, CaptionFn, CaptionProgress, caption_files, caption_library
from clipgit.core.ingest.ocr_jobs import OCR_MODEL, OcrProgress, ReadFn, TextRead, ocr_files, ocr_library
from clipgit.core.ingest.one_job import one_at_a_time, waiting_for
from clipgit.core.ingest.pipeline import default_workers

if TYPE_CHECKING:
    from clipgit.core.config import Settings
    from clipgit.core.models.git_captioner import CaptionInput, GitCaptioner
    from clipgit.core.models.ocr import OcrReader
    from clipgit.core.store.catalog import Catalog
    from clipgit.core.store.index_lock import IndexLock


class EngineWords:
    """Captions and text in pictures, for the Engine this is mixed into."""

    settings: Settings
    captioner: GitCaptioner
    catalog: Callable[[], Catalog]
    _infer: InferenceThread
    _stage_lock: threading.Lock
    _reader: OcrReader | None

    # captions -----------------------------------------------------------------
    def load_captioner(self) -> None:
        """Load GIT now (on the inference thread); raises ModelUnavailable."""
        self._caption_draft()

    def _caption_batch(self, priority: int, max_tokens: int | None = None,
                       beams: int | None = None) -> CaptionFn:
        tokens, n_beams = max_tokens or self.settings.max_tokens, beams or self.settings.beams
        limit = self.settings.max_image_pixels
        return lambda images: self._infer.submit(self.captioner.caption, images, tokens, n_beams, limit,
                                                 priority=priority)

    def _caption_reader(self) -> Callable[[str], CaptionInput]:
        """Load GIT if needed; what the decode pool makes of a file for it."""
        return self._infer.call(self.captioner.reader, self.settings.max_image_pixels)

    def _caption_draft(self) -> int:
        """Load GIT if needed; the JPEG draft size its images are decoded at."""
        return self._infer.call(self.captioner.load)

    def caption(self, paths: Sequence[str], *, max_tokens: int | None = None,
                beams: int | None = None) -> list[Captioned]:
        """Captions for any files; library images use (and fill) the cache for the default decoding."""
        s = self.settings
        default = (max_tokens or s.max_tokens, beams or s.beams) == (s.max_tokens, s.beams)
        run = self._caption_batch(INTERACTIVE, max_tokens, beams)
        return caption_files(self.catalog(), s.caption_model, paths, run, self._caption_reader,
                             batch_size=s.caption_batch_size, use_cache=default)

    def caption_library_iter(self, cancel: threading.Event | None = None, pause: threading.Event | None = None,
                             root: str | None = None, settings: Settings | None = None) -> Iterator[CaptionProgress]:
        """Caption every indexed image that has no caption yet (background priority); `settings` as for
        `index_iter`."""
        s = settings or self.settings
        stop = cancel or threading.Event()

        def job(lock: IndexLock) -> Iterator[CaptionProgress]:
            return caption_library(self.catalog(), s.caption_model, s.clip_model, self._caption_batch(BATCH),
                                   self._caption_reader, batch_size=s.caption_batch_size,
                                   workers=s.decode_workers or default_workers(), cancel=stop, pause=pause,
                                   root=root, lock=lock)

        return one_at_a_time(self.settings.data_dir, "captions", stop, waiting_for("captioning"), job)

    def cached_caption(self, path: str) -> str | None:
        cat = self.catalog()
        row = cat.image_by_path(os.path.abspath(path))
        return cat.captions_for([row.id], self.settings.caption_model).get(row.id) if row else None

    # text in pictures ------------------------------------------------------------
    @property
    def reader(self) -> OcrReader:
        with self._stage_lock:
            if self._reader is None:
                from clipgit.core.models.ocr import OcrReader

                self._reader = OcrReader(device=self.settings.device)  # models load on the first read
            return self._reader

    def _read_batch(self, priority: int) -> ReadFn:
        """OCR on the inference thread, in turn with CLIP and GIT (a search still goes first)."""
        return lambda images: self._infer.submit(self.reader.read_each, images, priority=priority)

    def ocr(self, paths: Sequence[str]) -> list[TextRead]:
        """The text in any files; library images use (and fill) the cache."""
        s = self.settings
        return ocr_files(self.catalog(), OCR_MODEL, paths, self._read_batch(INTERACTIVE),
                         max_pixels=s.max_image_pixels)

    def ocr_library_iter(self, cancel: threading.Event | None = None, pause: threading.Event | None = None,
                         root: str | None = None, settings: Settings | None = None) -> Iterator[OcrProgress]:
        """Read the text of every indexed image not read yet (background priority); `settings` as for
        `index_iter`. Raises ModelUnavailable when the OCR models cannot load."""
        s = settings or self.settings
        self._infer.call(self.reader.load)  # a missing package or model fails here, before any progress
        stop = cancel or threading.Event()

        def job(lock: IndexLock) -> Iterator[OcrProgress]:
            return ocr_library(self.catalog(), OCR_MODEL, s.clip_model, self._read_batch(BATCH),
                               max_pixels=s.max_image_pixels, batch_size=8,
                               workers=s.decode_workers or default_workers(), cancel=stop, pause=pause, root=root,
                               lock=lock)

        return one_at_a_time(self.settings.data_dir, "text", stop, waiting_for("reading text"), job)

    def cached_text(self, path: str) -> TextRead | None:
        """The library's text of an image (None when it has not been read)."""
        cat = self.catalog()
        row = cat.image_by_path(os.path.abspath(path))
        found = cat.texts_for([row.id], OCR_MODEL).get(row.id) if row else None
        return TextRead(row.path, found[0], found[1], cached=True) if row and found else None
