"""The library kept in step, mixed into the app: folders, the index queue, the watcher, a model switch.

Kept apart from app.py so the app stays the router of messages. Indexing runs
one queue of folders at a time in a thread worker (through the warm service
when there is one); captions wait while it runs; the watcher and a switch to a
model the library has no vectors of both feed the same queue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App
from textual.css.query import NoMatches

from clipgit.core.engine import Engine, FolderInfo
from clipgit.tui.captioner import Captioner
from clipgit.tui.format import count, duration
from clipgit.tui.messages import FoldersLoaded, IndexFinished, IndexProgressed, IndexRequested, LibraryChanged
from clipgit.tui.panes.library import LibraryPane

if TYPE_CHECKING:
    _AppBase = App[None]
else:
    _AppBase = object

LIVE_REFRESH_S = 2.0  # while indexing, the current search refreshes at most this often


class LibrarySync(_AppBase):
    engine: Engine
    captions: Captioner
    model_state: str
    images: int
    index_status: str
    current_query: str
    last_search: float
    run_search: Callable[..., None]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._index_queue: list[str] = []
        self._indexing = False
        self._cancel = threading.Event()  # set on quit: the index run commits its batch in flight and stops
        self._watch_cancel = threading.Event()
        self._watched: list[str] = []
        self._behind: list[FolderInfo] | None = None  # folders with images this model has not embedded yet
        self._announce = self._announce_next = False  # the run (next run) was asked for: say how it went
        self._reopened: list[str] = []  # library folders to rescan once the model is ready

    def _library(self) -> LibraryPane | None:
        """The library pane; None as the app closes, when background results can land after it is gone."""
        try:
            return self.query_one(LibraryPane)
        except NoMatches:
            return None

    def stop_syncing(self) -> None:
        self._cancel.set()
        self._watch_cancel.set()

    @work(thread=True, group="folders", exclusive=True, exit_on_error=False)
    def _load_folders(self) -> None:
        folders = self.engine.folders()
        self.post_message(FoldersLoaded(folders, sum(f.images for f in folders)))

    async def on_folders_loaded(self, message: FoldersLoaded) -> None:
        self.images = message.images
        watched = sorted(f.path for f in message.folders if f.exists)
        if self._behind is None:  # once a session: folders indexed with another model, embedded for this one
            self._behind = [f for f in message.folders if f.exists and f.unembedded]
            self._catch_up()
            if self.engine.settings.watch:
                self._reopened = list(watched)
                self._pick_up_changes()
        if self.engine.settings.watch and watched != self._watched:
            self._watched = watched
            self._watch_cancel.set()  # the old watcher ends; one for the library as it is now starts
            self._watch_cancel = threading.Event()
            self._watch(watched, self._watch_cancel)
        library = self._library()
        if library is not None:
            await library.set_folders(message.folders)
            library.mark_queued(self._index_queue)

    def _pick_up_changes(self) -> None:
        """What changed in the library while the app was closed (a camera import): indexed once the model is
        ready, as the watcher does while it is open; a stat and a lookup a file where nothing changed."""
        if self.model_state != "ready" or not self._reopened:
            return
        paths, self._reopened = self._reopened, []
        self.start_index(paths, quiet=True)

    def _catch_up(self) -> None:
        """Embed, in the background, what another model indexed: once the model is ready and the folders known."""
        if self.model_state != "ready" or not self._behind:
            return
        behind, self._behind = self._behind, []
        missing = sum(f.unembedded for f in behind)
        self.notify(f"{count(missing, 'image')} with no vectors for this model yet: embedding in the background; "
                    f"until then search covers the {count(self.images, 'image')} that have them (vectors of other "
                    "models are kept: switching back is instant)", title="Model switched", timeout=15)
        self.start_index([f.path for f in behind])

    @work(thread=True, group="watch", exit_on_error=False)
    def _watch(self, folders: list[str], cancel: threading.Event) -> None:
        from clipgit.core.ingest.watch import watch_folders

        for changed in watch_folders(folders, cancel):
            self.post_message(LibraryChanged(changed))

    def on_library_changed(self, message: LibraryChanged) -> None:
        self.start_index(message.folders, quiet=True)  # cheap for what did not change: a stat and a lookup a file

    def start_index(self, paths: list[str], *, quiet: bool = False) -> None:
        """Index these folders after what is queued. quiet: say how it went only if something changed."""
        self._announce_next = self._announce_next or not quiet
        for path in paths:
            if path not in self._index_queue:
                self._index_queue.append(path)
        library = self._library()
        if library is not None:
            library.mark_queued(self._index_queue)
        if not self._indexing:
            self._next_index()

    def _next_index(self) -> None:
        if not self._index_queue or self._cancel.is_set():
            self._indexing = False
            self.index_status = ""
            if self.model_state == "ready" and not self._cancel.is_set():
                self.captions.start_background()  # captions follow embeddings
            return
        self._indexing = True
        self._announce, self._announce_next = self._announce_next, False
        self.captions.stop()  # embeddings first; captioning resumes when indexing is done
        paths, self._index_queue = list(self._index_queue), []
        self._index_worker(paths)

    @work(thread=True, group="index", exit_on_error=False)
    def _index_worker(self, paths: list[str]) -> None:
        report = None
        for event in self.engine.index_iter(paths, self._cancel):
            report = event.report
            self.post_message(IndexProgressed(event))
        if report is not None:
            self.post_message(IndexFinished(report))

    def on_index_progressed(self, message: IndexProgressed) -> None:
        event = message.event
        library = self._library()
        if library is None:
            return
        if event.phase == "scanning" and not any(i.info.path == event.folder for i in library.items()):
            self._load_folders()
        library.show_progress(event)
        if event.phase == "embedding" and event.total:
            self.index_status = f"indexing {event.done}/{event.total} · {event.rate:.1f} img/s · " \
                                f"{duration(event.eta)} left"
            if self.current_query and time.monotonic() - self.last_search > LIVE_REFRESH_S:
                self.run_search(self.current_query, quiet=True)

    def on_index_finished(self, message: IndexFinished) -> None:
        r = message.report
        if not r.cancelled and (self._announce or r.new or r.changed or r.moved or r.removed):
            self.notify(f"new {r.new}, changed {r.changed}, moved {r.moved}, removed {r.removed}, "
                        f"unchanged {r.unchanged}, skipped {len(r.skipped)}", title="Indexed")
        self._after_index()

    def _after_index(self) -> None:
        self._load_folders()
        if self.current_query:
            self.run_search(self.current_query, quiet=True)
        self._next_index()

    def on_index_requested(self, message: IndexRequested) -> None:
        self.start_index(message.paths)
