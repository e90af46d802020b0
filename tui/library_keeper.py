"""The library kept in step: a non-visual component that owns folders, the index queue, the watcher and a
model switch's catch-up, runs their workers and handles their messages (as `Captioner` does for captions).

Indexing runs one queue of folders at a time in a thread worker (through the warm service when there is
one); captions wait while it runs; the watcher, what changed while the app was closed, and a switch to a
model the library has no vectors of all feed the same queue. The app hears of it through three messages:
`Counted` (images searchable), `Status` (the status line's indexing text) and `Stale` (the results on
screen may have changed: search again).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import work
from textual.css.query import NoMatches
from textual.message import Message
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from clipgit.core.errors import ModelUnavailable
from clipgit.tui.captioner import Captioner
from clipgit.tui.format import count, duration, failure
from clipgit.tui.messages import FoldersLoaded, IndexFinished, IndexProgressed, LibraryChanged
from clipgit.tui.panes.library import LibraryPane
from clipgit.tui.text_reader import TextReader

if TYPE_CHECKING:
    import sqlite3

    from clipgit.core.engine import Engine, FolderInfo


class LibraryKeeper(Widget):
    DEFAULT_CSS = "LibraryKeeper { display: none; }"

    @dataclass
    class Counted(Message):
        """How many images the current model can search."""

        images: int

    @dataclass
    class Status(Message):
        """The status line's indexing text ("" when idle)."""

        text: str

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, LibraryKeeper.Status)

    @dataclass
    class Stale(Message):
        """The library changed under the results on screen; `live`: while a run goes on (throttle it)."""

        live: bool

    def __init__(self, engine: Engine, captions: Captioner, texts: TextReader | None = None) -> None:
        super().__init__()
        self.engine = engine
        self.captions = captions
        self.texts = texts  # reading text in pictures, which follows embeddings as captions do
        self.model_ready = False
        self.indexing = False
        self.images = 0
        self.watched: list[str] = []
        self._queue: list[str] = []
        self._cancel = threading.Event()  # set on quit: the index run commits its batch in flight and stops
        self._watch_cancel = threading.Event()
        self._behind: list[FolderInfo] | None = None  # folders with images this model has not embedded yet
        self._announce = self._announce_next = False  # the run (next run) was asked for: say how it went
        self._reopened: list[str] = []  # library folders to rescan once the model is ready
        self._outside: sqlite3.Connection | None = None  # asks the catalog whether another process wrote
        self._seen_version: int | None = None
        self._outside_lock = threading.Lock()

    OUTSIDE_S = 2.0  # how often the open app asks whether another process changed the library

    def on_mount(self) -> None:
        self.set_interval(self.OUTSIDE_S, self._look_outside)

    def on_unmount(self) -> None:
        with self._outside_lock:
            if self._outside is not None:
                self._outside.close()
                self._outside = None

    def _look_outside(self) -> None:
        if not self.indexing and not self.captions.running and not (self.texts and self.texts.running):
            # (its own writes are followed as they come)
            self._outside_worker()

    @work(thread=True, group="outside", exclusive=True, exit_on_error=False)
    def _outside_worker(self) -> None:
        """A command-line `index` or `forget` of this library (or another app) committed: the folder counts and
        the results follow, as they do for the app's own runs."""
        seen, now = self._seen_version, self._data_version()
        if seen is not None and now is not None and now != seen and not self.indexing:
            self.app.call_from_thread(self._changed)

    def _data_version(self) -> int | None:
        """`PRAGMA data_version`: it changes exactly when another connection committed, and costs nothing to
        ask. Remembered as seen; called from worker threads (one connection, under a lock)."""
        import sqlite3  # here, on a worker thread: not in the app's first frame

        db = self.engine.settings.db_path
        with self._outside_lock:
            if not db.exists():
                return None
            try:
                if self._outside is None:
                    self._outside = sqlite3.connect(db, check_same_thread=False, timeout=1.0)
                self._seen_version = int(self._outside.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error:
                return None
            return self._seen_version

    def _pane(self) -> LibraryPane | None:
        """The library pane; None as the app closes, when background results can land after it is gone."""
        try:
            return self.app.query_one(LibraryPane)
        except NoMatches:
            return None

    # the app's calls -------------------------------------------------------------------------
    def ready(self) -> None:
        """The model is loaded: catch up, rescan what changed while the app was closed, then captions."""
        self.model_ready = True
        if not self.indexing:
            self._after_embeddings()
        self._catch_up()
        self._pick_up_changes()

    def stop(self) -> None:
        self._cancel.set()
        self._watch_cancel.set()

    def start_index(self, paths: list[str], *, quiet: bool = False) -> None:
        """Index these folders after what is queued. quiet: say how it went only if something changed."""
        self._announce_next = self._announce_next or not quiet
        for path in paths:
            if path not in self._queue:
                self._queue.append(path)
        pane = self._pane()
        if pane is not None:
            pane.mark_queued(self._queue)
        if not self.indexing:
            self._next_index()

    @work(thread=True, group="folders", exclusive=True, exit_on_error=False)
    def load_folders(self) -> None:
        self._data_version()  # what is read next is seen: a commit after it is news
        folders = self.engine.folders()
        self.post_message(FoldersLoaded(folders, sum(f.images for f in folders)))

    @work(thread=True, group="forget", exit_on_error=False)
    def forget(self, path: str) -> None:
        dropped = self.engine.forget(path)
        self.app.call_from_thread(self.notify, f"removed {count(dropped, 'file')} from the library",
                                  title="Removed")
        self.app.call_from_thread(self._changed)

    def _changed(self) -> None:
        self.load_folders()
        self.post_message(self.Stale(live=False))

    # folders -----------------------------------------------------------------------------------
    async def on_folders_loaded(self, message: FoldersLoaded) -> None:
        message.stop()
        self.images = message.images
        self.post_message(self.Counted(message.images))
        watched = sorted(f.path for f in message.folders if f.exists)
        if self._behind is None:  # once a session: folders indexed with another model, embedded for this one
            self._behind = [f for f in message.folders if f.exists and f.unembedded]
            self._catch_up()
            if self.engine.settings.watch:
                self._reopened = list(watched)
                self._pick_up_changes()
        if self.engine.settings.watch and watched != self.watched:
            self.watched = watched
            self._watch_cancel.set()  # the old watcher ends; one for the library as it is now starts
            self._watch_cancel = threading.Event()
            self._watch(watched, self._watch_cancel)
        pane = self._pane()
        if pane is not None:
            try:
                await pane.set_folders(message.folders)
                pane.mark_queued(self._queue)
            except NoMatches:
                pass  # the pane was being taken down (the app closing) as it was found: its list went first

    def _pick_up_changes(self) -> None:
        """What changed in the library while the app was closed (a camera import): indexed once the model is
        ready, as the watcher does while it is open; a stat and a lookup a file where nothing changed."""
        if not self.model_ready or not self._reopened:
            return
        paths, self._reopened = self._reopened, []
        self.start_index(paths, quiet=True)

    def _catch_up(self) -> None:
        """Embed, in the background, what another model indexed: once the model is ready and the folders known."""
        if not self.model_ready or not self._behind:
            return
        behind, self._behind = self._behind, []
        missing = sum(f.unembedded for f in behind)
        self.notify(f"{count(missing, 'image')} with no vectors for this model yet: embedding in the background; "
                    f"until then search covers the {count(self.images, 'image')} that have them (vectors of other "
                    "models are kept: switching back is instant)", title="Model switched", timeout=15)
        self.start_index([f.path for f in behind])

    # watching ----------------------------------------------------------------------------------
    @work(thread=True, group="watch", exit_on_error=False)
    def _watch(self, folders: list[str], cancel: threading.Event) -> None:
        from clipgit.core.ingest.watch import watch_folders

        for changed in watch_folders(folders, cancel):
            self.post_message(LibraryChanged(changed))

    def on_library_changed(self, message: LibraryChanged) -> None:
        message.stop()
        self.start_index(message.folders, quiet=True)  # cheap for what did not change: a stat and a lookup a file

    # indexing ----------------------------------------------------------------------------------
    def _after_embeddings(self) -> None:
        """Captions and text follow embeddings, side by side (each only when turned on)."""
        self.captions.start_background()
        if self.texts is not None:
            self.texts.start_background()

    def _next_index(self) -> None:
        if not self._queue or self._cancel.is_set():
            self.indexing = False
            self.post_message(self.Status(""))
            if self.model_ready and not self._cancel.is_set():
                self._after_embeddings()
            return
        self.indexing = True
        self._announce, self._announce_next = self._announce_next, False
        self.captions.stop()  # embeddings first; captioning and reading resume when indexing is done
        if self.texts is not None:
            self.texts.stop()
        paths, self._queue = list(self._queue), []
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
        message.stop()
        event = message.event
        pane = self._pane()
        if pane is None:
            return
        if event.phase == "scanning" and not any(i.info.path == event.folder for i in pane.items()):
            self.load_folders()
        pane.show_progress(event)
        if event.phase == "embedding" and event.total:
            self.post_message(self.Status(f"indexing {event.done}/{event.total} · {event.rate:.1f} img/s · "
                                          f"{duration(event.eta)} left"))
            self.post_message(self.Stale(live=True))
        elif event.phase == "waiting":
            self.post_message(self.Status("waiting for another index run to finish"))

    def on_index_finished(self, message: IndexFinished) -> None:
        message.stop()
        r = message.report
        if not r.cancelled and (self._announce or r.new or r.changed or r.moved or r.removed):
            self.notify(f"new {r.new}, changed {r.changed}, moved {r.moved}, removed {r.removed}, "
                        f"unchanged {r.unchanged}, skipped {len(r.skipped)}", title="Indexed")
        self._after_index()

    def _after_index(self) -> None:
        self._changed()
        self._next_index()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """This component's failures, said here (the app's handler says the others')."""
        if event.state != WorkerState.ERROR:
            return
        event.stop()
        error = event.worker.error
        text = failure(error)
        if event.worker.group == "index":
            pane = self._pane()
            if pane is not None:
                pane.clear_progress()  # no frozen "0/9 · 0.0 img/s" bar
            if isinstance(error, ModelUnavailable):  # said once, by the app, where the model failed to load:
                self._queue.clear()  # every run would fail the same way until the model is there
                self.indexing = False
                self.post_message(self.Status(""))
                self.load_folders()
                return
            self.notify(text, title="Indexing stopped", severity="error", timeout=20)
            self._after_index()
        else:
            self.notify(text, title="Error", severity="error")
