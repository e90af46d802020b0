"""Engine: the one API both faces use (the Textual app and the command line).

It owns the inference thread and hands each calling thread its own catalog
connection. Long work (index) is a generator of progress events taking a
cancel event, so a face can loop over it in a worker and post messages;
everything raises typed errors from errors.py and never prints. Captions and
the text read in pictures are mixed in from engine_words.py.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from clipgit.core.config import Settings, private_data_dir
from clipgit.core.decode.jpeg_header import RawJpeg
from clipgit.core.decode.pool import start_server_early
from clipgit.core.engine_words import EngineWords
from clipgit.core.errors import ClipgitError, QueryError
from clipgit.core.inference import BATCH, FEEDER_NICE, InferenceThread, lower_thread_priority, then
from clipgit.core.ingest.batch_commit import Encoded
from clipgit.core.ingest.indexer import IndexProgress, IndexReport, IndexRun
from clipgit.core.ingest.ocr_jobs import OCR_MODEL
from clipgit.core.ingest.one_job import one_at_a_time
from clipgit.core.ingest.pipeline import default_workers
from clipgit.core.lab.dataset import load_dataset
from clipgit.core.lab.evaluate import EvalProgress, run_eval
from clipgit.core.models import device_plan
from clipgit.core.models.clip import ClipEncoder
from clipgit.core.models.git_captioner import GitCaptioner
from clipgit.core.progress import Progress
from clipgit.core.search.dupes import DupeGroup, find_duplicates
from clipgit.core.search.filters import split_filters
from clipgit.core.search.searcher import Searcher, SearchResult
from clipgit.core.store import forgetting
from clipgit.core.store.ann_keeper import AnnKeeper, VectorIndexFacts
from clipgit.core.store.catalog import Catalog
from clipgit.core.store.device_scan import ExactScan
from clipgit.core.store.index_lock import IndexLock
from clipgit.core.store.knn_dupes import knn_pairs
from clipgit.core.store.library_status import FolderInfo, Status, folder_infos
from clipgit.core.store.vectors import VectorIndex

if TYPE_CHECKING:
    from clipgit.core.models.ocr import OcrReader



class Engine(EngineWords):
    note = ""  # a one-line note for the user; ServedEngine's: a service was restarted, or none could run

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.load()
        self.privacy_note = private_data_dir(self.settings.data_dir)  # a face may show it once
        self.clip = ClipEncoder(self.settings.clip_model, self.settings.device, self.settings.precision,
                                gpu_decode=self.settings.gpu_decode)
        self._infer = InferenceThread(nice=lambda: device_plan.inference_nice(self.settings.device))
        self._device_stage: ThreadPoolExecutor | None = None  # GPU decode, one batch ahead of the model
        self._stage_lock = threading.Lock()
        self._local = threading.local()
        self._connections: list[tuple[threading.Thread, Catalog]] = []
        self._conn_lock = threading.Lock()
        self._vectors = VectorIndex(self.settings.clip_model, self.settings.data_dir)
        # exact search on the card where the model runs on CUDA, on the inference thread (device_scan.py)
        scanner = ExactScan(self._vectors, lambda: self.clip.device if self.clip.loaded else self.settings.device,
                            self._infer.call)
        self._keeper = AnnKeeper(self._vectors, self.settings.data_dir, setting=self.settings.vector_index,
                                 crossover=self.settings.ann_crossover, scanner=scanner)
        self.captioner = GitCaptioner(self.settings.caption_model, self.settings.device, self.settings.precision,
                                      gpu_decode=self.settings.gpu_decode)
        self._reader: OcrReader | None = None  # made on the first read (it imports OpenCV)
        self._searcher = Searcher(self.settings, self.clip, self._infer, self._vectors, self.catalog, self._keeper)
        self._previous: Searcher | None = None  # another model's, answering during a switch (_answering)
        self.catalog()  # create and migrate the database now: errors surface at once

    # plumbing -------------------------------------------------------------
    def catalog(self) -> Catalog:
        """This thread's connection (sqlite3 connections are not shared across threads)."""
        cat = getattr(self._local, "catalog", None)
        if cat is None:
            cat = Catalog(self.settings.db_path)
            self._local.catalog = cat
            with self._conn_lock:
                # faces run each job on a fresh thread: close what finished threads left behind
                alive = []
                for thread, old in self._connections:
                    if thread.is_alive():
                        alive.append((thread, old))
                    else:
                        old.close()
                self._connections = [*alive, (threading.current_thread(), cat)]
        return cat

    def close(self) -> None:
        self._keeper.close()
        self._infer.close()
        if self._device_stage is not None:
            self._device_stage.shutdown(wait=True, cancel_futures=True)
        with self._conn_lock:
            for _, cat in self._connections:
                try:
                    cat.close()
                except Exception:  # a connection of a thread that is gone
                    pass
            self._connections.clear()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load_model(self) -> None:
        """Load CLIP now (on the inference thread); raises ModelUnavailable. The decode pool's fork server
        starts meanwhile, where runs may use it."""
        start_server_early(self.settings.decode)
        self._infer.call(self.clip.load)

    def batch_size(self, settings: Settings | None = None) -> int:
        """Images a batch: the run's setting, or one chosen for the device (models/device_plan.py)."""
        return device_plan.batch_size(self.settings.device, (settings or self.settings).batch_size)

    def _card_pixels(self) -> int:
        return device_plan.card_pixels(self.clip.device)

    def device_label(self) -> str:
        """Where the model runs, for a status line: e.g. "cpu bf16"."""
        return f"{self.clip.device} {self.clip.precision}"

    @property
    def served(self) -> bool:
        """Whether model calls go to the warm service: ServedEngine's, when it reached one."""
        return False

    def keep_warm(self) -> None:
        """An open face keeps the service from its idle exit; in-process there is nothing to keep warm."""

    # indexing -------------------------------------------------------------
    def index_iter(self, paths: Iterable[str], cancel: threading.Event | None = None,
                   settings: Settings | None = None) -> Iterator[IndexProgress]:
        """Index folders; yields progress, the last event has phase "done" and the report. `settings`: how
        this run works (batch size, decoding, hidden files), where it differs from the engine's (a job sent
        to the service carries its client's)."""
        roots = [_folder_arg(p) for p in forgetting.index_roots(self.catalog(), list(paths))]
        if not roots:
            raise ClipgitError("no folder given to index")
        s = settings or self.settings
        workers = s.decode_workers or default_workers()
        start_server_early(s.decode)  # while the model loads and the folders are scanned
        run = IndexRun(
            self.catalog(), s.clip_model,
            encode=self._encode_items,
            preprocess=lambda: self._infer.call(self.clip.load),
            batch_size=lambda: self.batch_size(s), workers=workers, max_pixels=s.max_image_pixels,
            include_hidden=s.include_hidden, exclude_dirs=s.exclude_dirs, decode=s.decode,
            card_pixels=self._card_pixels,
        )
        stop = cancel or threading.Event()

        def waiting(holder: str) -> IndexProgress:  # another run indexes: wait, then skip what it committed
            return Progress("waiting", 0, 0, folder=roots[-1], note=f"waiting for {holder} to finish indexing "
                            "(files it commits are not embedded again)", report=IndexReport())

        try:
            yield from one_at_a_time(self.settings.data_dir, "index", stop, waiting, lambda _: run.run(roots, stop))
        finally:
            self._vectors.refresh(self.catalog())
            self._vectors.save_if_changed()
            self._keeper.ready(self._vectors.view())  # past the crossover: built or updated in the background
            self.save_vector_index()

    def _encode_items(self, items: list[np.ndarray | RawJpeg]) -> Future[Encoded]:
        """A batch of an index run: on the inference thread, or with JPEGs for the GPU, decoded first on the
        device-decode thread (which then works on the next batch while the model embeds this one)."""
        limit = self.settings.max_image_pixels
        if not any(isinstance(item, RawJpeg) for item in items):
            return self._infer.submit(self.clip.encode_items, items, limit, priority=BATCH)
        with self._stage_lock:
            if self._device_stage is None:
                self._device_stage = ThreadPoolExecutor(1, thread_name_prefix="clipgit-device-decode",
                                                        initializer=lower_thread_priority, initargs=(FEEDER_NICE,))
            prepared = self._device_stage.submit(self.clip.device_input, items, limit)
        return then(prepared, lambda batch: self._infer.submit(self.clip.embed_input, batch, priority=BATCH))

    def index(self, paths: Iterable[str], progress: Callable[[IndexProgress], None] | None = None,
              cancel: threading.Event | None = None) -> IndexReport:
        report = IndexReport()
        for event in self.index_iter(paths, cancel):
            report = event.report or report
            if progress is not None:
                progress(event)
        return report

    def forget(self, path: str, on_wait: Callable[[str], None] | None = None) -> int:
        """Drop a library folder, or a sub-folder or file inside one, which then stays out of the folder's
        rescans until it is indexed again (forgetting.py); returns files dropped. Waits for an index run
        in progress (which would write into the folder as it goes), telling `on_wait` once whom it waits for."""
        target = os.path.abspath(os.path.expanduser(path)).rstrip("/") or "/"
        cat = self.catalog()
        lock = IndexLock(self.settings.data_dir)
        told = False
        while not lock.try_acquire():
            if on_wait is not None and not told:
                on_wait(lock.holder())
                told = True
            time.sleep(0.1)
        try:
            dropped = forgetting.forget(cat, target)
        finally:
            lock.release()
        self._library_changed(cat)
        return dropped

    def _library_changed(self, cat: Catalog) -> None:
        """Rows went away: the vectors in memory follow (whoever searches keeps them)."""
        self._vectors.refresh(cat)

    # searching ------------------------------------------------------------
    def search(self, query: str, top: int = 10, folder: str | None = None, mode: str = "auto",
               sort: str = "score", exact: bool = False) -> list[SearchResult]:
        """Text and image terms combined (see query.py); query images leave their own results.

        mode: clip (CLIP similarity), caption (caption words), hybrid (both fused), or auto: hybrid
        once the library has captions from the current caption model, else clip. Filters in the query
        (core/filters.py) narrow the library first; alone, they list matching images newest first.
        sort: score (default), date (capture date, newest first) or name, applied to the top results.
        exact: an exact scan even past the crossover (for checking the approximate index).
        """
        return self._answering().search(query, top, folder, mode, sort, exact)

    def vector_index_note(self) -> str:
        """One line when the approximate index is wanted but search answers exactly (building, stale), else ""."""
        return self._keeper.note

    def vector_index(self, wait: float | None = 0.0) -> VectorIndexFacts:
        """Which kind of vector search answers, and the approximate index's size, age and recall; `wait`:
        seconds to wait for a background build first (None: until it ends)."""
        if wait is None or wait > 0:
            self._keeper.wait(wait)
        cat = self.catalog()
        return self._keeper.facts(cat.vector_stats(self.settings.clip_model), self._vectors.dim)

    def save_vector_index(self) -> None:
        """Write the approximate index's file now when it holds changes the file lacks. close() keeps fewer
        than a few thousand unsaved (the next open catches up on them by comparing ids, cheaper than a write
        each time); after an index run, or before another process opens the library, the file should be in
        step, so that it is mapped and answers at once. A background build saves its own work."""
        self._keeper.save_if_changed()

    @property
    def last_route(self) -> str:
        """How this model's last vector search in this process was answered: "ann" (the approximate index),
        "subset" (an exact scan of a selective filter) or "exact" (every vector): what a check of the index,
        or a benchmark, needs to know answered, as the answers themselves are the same."""
        return self._keeper.last_route

    def similar(self, path: str, top: int = 10, folder: str | None = None) -> list[SearchResult]:
        return self._answering().similar(path, top, folder)

    def _answering(self) -> Searcher:
        """This model's searcher; while another model's vectors cover more of the library (a switch to this
        model in progress), that model's, which then answers (each result names its model).

        Why: after a switch the new model embeds the library in the background; until it has caught up, the
        old vectors find more than the new ones. It costs the old model in memory meanwhile.
        """
        counts = self.catalog().vector_counts()
        mine = counts.get(self.settings.clip_model, 0)
        others = [(n, m) for m, n in counts.items() if m != self.settings.clip_model and n > mine]
        if not others:
            return self._searcher
        _, model = max(others)
        with self._stage_lock:
            if self._previous is None or self._previous.settings.clip_model != model:
                s = self.settings.with_(clip_model=model)
                clip = ClipEncoder(model, s.device, s.precision, gpu_decode=s.gpu_decode)
                self._previous = Searcher(s, clip, self._infer, VectorIndex(model, s.data_dir), self.catalog)
            return self._previous

    def matching(self, query: str, folder: str | None = None) -> int:
        """How many images a query can list: those passing its filters, or every image with a vector when it
        has none (a ranking orders them all). Needs no model: the app's "100 of 800"."""
        _, scope = split_filters(query)
        scope = scope.within(folder)
        cat = self.catalog()
        if not scope.active:
            return cat.vector_counts().get(self.settings.clip_model, 0)
        return cat.count_filtered(scope, self.settings.clip_model)

    def search_vector(self, vector: np.ndarray, top: int = 10, folder: str | None = None,
                      exclude: Iterable[int] = (), exact: bool = False) -> list[SearchResult]:
        """Top results for a ready query vector (of this model's dimension); `exact` as in `search`."""
        vec = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(vec))
        if vec.ndim != 1 or norm < 1e-9:
            raise QueryError("the query vector must be one non-zero vector")
        return self._searcher.top(vec / norm, top, folder, set(exclude), exact)

    def duplicates(self, threshold: float = 0.95, folder: str | None = None,
                   cancel: threading.Event | None = None) -> list[DupeGroup]:
        """Groups of near-identical images (CLIP cosine >= threshold) and exact copies; needs no model."""
        cat = self.catalog()
        self._vectors.refresh(cat)
        ready = self._keeper.source()
        if ready is None:
            ids, vectors = self._vectors.live()
            return find_duplicates(cat, self.settings.clip_model, ids, vectors, threshold=threshold, folder=folder,
                                   cancel=cancel)
        index, source = ready  # past the crossover: each image's neighbourhood, not every pair

        def near(at_least: float, stop: threading.Event | None) -> tuple[np.ndarray, np.ndarray]:
            return knn_pairs(index, source, at_least, cancel=stop)

        return find_duplicates(cat, self.settings.clip_model, source.row_ids[source.live_rows()], None,
                               threshold=threshold, folder=folder, cancel=cancel, near=near)

    # the lab ------------------------------------------------------------------
    def evaluate_iter(self, folder: str, *, captions: bool = True,
                      cancel: threading.Event | None = None) -> Iterator[EvalProgress]:
        """Recall@K of CLIP (and BLEU-4 / CIDEr-D of GIT) on a captioned dataset; the last event has the report."""
        s = self.settings
        data = load_dataset(folder)
        call = self._infer.submit
        return run_eval(
            data,
            encode_pixels=lambda px: call(self.clip.encode_pixels, px, priority=BATCH),
            encode_texts=lambda texts: call(self.clip.encode_texts, texts, priority=BATCH),
            preprocess=lambda: self._infer.call(self.clip.load),
            caption=self._caption_batch(BATCH) if captions else None,
            caption_draft=self._caption_draft,
            batch_size=self.batch_size(), caption_batch_size=s.caption_batch_size,
            workers=s.decode_workers or default_workers(), max_pixels=s.max_image_pixels,
            cancel=cancel or threading.Event())

    # state ------------------------------------------------------------------
    def folders(self) -> list[FolderInfo]:
        return folder_infos(self.catalog(), self.settings.clip_model)

    def skipped(self, folder: str) -> list[tuple[str, str]]:
        return self.catalog().skipped_under(folder)

    def status(self) -> Status:
        counts = self.catalog().counts(self.settings.clip_model)
        return Status(
            data_dir=str(self.settings.data_dir), clip_model=self.settings.clip_model,
            device=self.clip.device if self.clip.loaded else self.settings.device,
            precision=self.clip.precision if self.clip.loaded else self.settings.precision,
            model_loaded=self.clip.loaded, images=counts["images"], files=counts["files"],
            skipped=counts["skipped"], folders=self.folders(), caption_model=self.settings.caption_model,
            captions=self.catalog().caption_count(self.settings.caption_model), ocr_model=OCR_MODEL,
            texts_read=self.catalog().text_count(OCR_MODEL),
            with_text=self.catalog().text_count(OCR_MODEL, with_text=True), places=self.catalog().place_count(),
            vector_index=self.vector_index().as_dict(),
        )


def _folder_arg(path: str) -> str:
    full = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(full):
        raise ClipgitError(f"folder not found: {path}")
    if not os.path.isdir(full):
        raise ClipgitError(f"not a folder: {path} (a file is indexed with the library folder that holds it: "
                           "index that folder first)")
    return full.rstrip("/") or "/"


__all__ = ["Engine", "FolderInfo", "IndexProgress", "IndexReport", "SearchResult", "Status"]
