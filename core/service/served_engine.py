"""The app's engine when a service can serve it: one warm copy of the models per user, not one per face.

Why the app uses the service rather than serving the command line itself:
the service outlives the app (a search typed after quitting is still warm),
it already handles locking, versions and faults, and the app then needs no
torch in its own process, so it paints and answers at once when the service
is warm. Library state that needs no model (folders, skipped files, cached
captions, forgetting a folder) is read here, from the catalog, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from clipgit.core.config import Settings
from clipgit.core.engine import Engine
from clipgit.core.errors import JobInterrupted
from clipgit.core.ingest.caption_jobs import Captioned, CaptionProgress
from clipgit.core.ingest.indexer import IndexProgress
from clipgit.core.ingest.ocr_jobs import OcrProgress, TextRead
from clipgit.core.search.searcher import SearchResult
from clipgit.core.service.client import RemoteEngine, ServiceClient, ServiceUnavailable
from clipgit.core.store.catalog import Catalog

T = TypeVar("T")


class ServedEngine(Engine):
    """Model calls go to the warm service (started on first need); if none can run, everything runs here."""

    def __init__(self, settings: Settings | None = None, client: ServiceClient | None = None) -> None:
        super().__init__(settings)
        self.client = client or ServiceClient(self.settings)
        self.remote: RemoteEngine | None = RemoteEngine(self.client)
        self.note = ""  # a one-line note for the user: a service was restarted, or none could run
        self._label = ""
        self._lock = threading.Lock()

    @property
    def served(self) -> bool:
        return self.remote is not None

    def _in_process(self, why: BaseException) -> None:
        with self._lock:
            if self.remote is not None:
                self.remote = None
                self.note = f"running in-process: {' '.join(str(why).split())}"

    def _remote(self, call: Callable[[RemoteEngine], T], fallback: Callable[[], T]) -> T:
        """One call through the service: a service that went away (idle exit, killed) is started again once."""
        remote = self.remote
        if remote is None:
            return fallback()
        try:
            return call(remote)
        except ServiceUnavailable:  # gone (its socket left behind), or cut off as it was killed
            pass
        try:
            self.client.ensure()
            return call(remote)
        except ServiceUnavailable as exc:
            self._in_process(exc)
            return fallback()

    # the model ----------------------------------------------------------------------
    def load_model(self) -> None:
        """Start or reach the service and have it load CLIP; a ModelUnavailable from it is raised as in-process."""
        if self.remote is not None:
            try:
                self.note = self.client.ensure()
                self._label = self.remote.load_model()
                return
            except ServiceUnavailable as exc:
                self._in_process(exc)
        super().load_model()

    def device_label(self) -> str:
        return f"{self._label} (service)" if self.remote is not None and self._label else super().device_label()

    def keep_warm(self) -> None:
        """A cheap request, so the service does not reach its idle exit while the app is open."""
        if self.remote is not None:
            try:
                self.client.hello()
            except ServiceUnavailable:
                pass  # busy: it is warm anyway

    # answers --------------------------------------------------------------------------
    def search(self, query: str, top: int = 10, folder: str | None = None, mode: str = "auto",
               sort: str = "score", exact: bool = False) -> list[SearchResult]:
        return self._remote(lambda r: r.search(query, top, folder, mode, sort, exact),
                            lambda: super(ServedEngine, self).search(query, top, folder, mode, sort, exact))

    def similar(self, path: str, top: int = 10, folder: str | None = None) -> list[SearchResult]:
        return self._remote(lambda r: r.similar(path, top, folder),
                            lambda: super(ServedEngine, self).similar(path, top, folder))

    def caption(self, paths: Sequence[str], *, max_tokens: int | None = None,
                beams: int | None = None) -> list[Captioned]:
        return self._remote(lambda r: r.caption(paths, max_tokens=max_tokens, beams=beams),
                            lambda: super(ServedEngine, self).caption(paths, max_tokens=max_tokens, beams=beams))

    # long jobs: progress streamed back ------------------------------------------------------
    def index_iter(self, paths: Iterable[str], cancel: threading.Event | None = None,
                   settings: Settings | None = None) -> Iterator[IndexProgress]:
        """Through the service; a service that dies mid-run (killed, out of memory) is started again once and
        the run resumes: what it committed is found unchanged, so only the rest is embedded."""
        roots = list(paths)
        for attempt in (1, 2):
            try:
                yield from self._streamed(lambda r: r.index_iter(roots, cancel),
                                          lambda: super(ServedEngine, self).index_iter(roots, cancel, settings))
                return
            except JobInterrupted:
                if attempt == 2 or (cancel is not None and cancel.is_set()):
                    raise

    def caption_library_iter(self, cancel: threading.Event | None = None, pause: threading.Event | None = None,
                             root: str | None = None, settings: Settings | None = None) -> Iterator[CaptionProgress]:
        return self._streamed(lambda r: r.caption_library_iter(cancel, pause, root),
                              lambda: super(ServedEngine, self).caption_library_iter(cancel, pause, root, settings))

    def ocr(self, paths: Sequence[str]) -> list[TextRead]:
        return self._remote(lambda r: r.ocr(paths), lambda: super(ServedEngine, self).ocr(paths))

    def ocr_library_iter(self, cancel: threading.Event | None = None, pause: threading.Event | None = None,
                         root: str | None = None, settings: Settings | None = None) -> Iterator[OcrProgress]:
        return self._streamed(lambda r: r.ocr_library_iter(cancel, pause, root),
                              lambda: super(ServedEngine, self).ocr_library_iter(cancel, pause, root, settings))

    def _streamed(self, call: Callable[[RemoteEngine], Iterator[Any]],
                  fallback: Callable[[], Iterator[Any]]) -> Iterator[Any]:
        """A stream that could not start goes the way of `_remote`; one that breaks midway raises."""
        events = self._remote(lambda r: _started(call(r)), lambda: _started(fallback()))
        yield from events

    def _library_changed(self, cat: Catalog) -> None:
        if self.remote is None:
            super()._library_changed(cat)
        # else: the service's vectors follow the catalog on its next search; none are held here


def _started(events: Iterator[T]) -> Iterator[T]:
    """Take the first event now, so a service that is gone is found before the stream is handed out."""
    iterator = iter(events)
    try:
        first = next(iterator)
    except StopIteration:
        return iter(())
    return _chain(first, iterator)


def _chain(first: T, rest: Iterator[T]) -> Iterator[T]:
    yield first
    yield from rest
