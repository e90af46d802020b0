"""One index run: walk, classify, decode in a pool, embed on the inference thread, commit per batch.

Why this shape: decoding (PIL releases the GIL) overlaps inference through a
bounded window, so both cores stay busy and memory stays flat; each batch is
one transaction, so `kill -9` loses at most the batch in flight and a rerun
resumes; an unchanged file costs a stat and one dict lookup. The commit itself
is batch_commit.py's.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clipgit.core.decode.image import Preprocess, decode, fingerprint, read_bytes
from clipgit.core.decode.jpeg_header import RawJpeg, raw_jpeg
from clipgit.core.decode.photo_facts import PhotoFacts, photo_facts
from clipgit.core.decode.pool import ProcessDecoder
from clipgit.core.decode.split import DecodeSplit
from clipgit.core.ingest.batch_commit import Encoded, FileItem, FileResult, commit_batch
from clipgit.core.ingest.pipeline import DecodeBackend, InlineBackend, decoded
from clipgit.core.ingest.read_plan import plan_reads
from clipgit.core.names import within
from clipgit.core.progress import Meter, Progress
from clipgit.core.scan import is_empty_folder, is_image_name, walk
from clipgit.core.store.catalog import Catalog, ImageRow
from clipgit.core.store.checkpoints import Checkpointer


@dataclass
class IndexReport:
    new: int = 0
    changed: int = 0
    moved: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "new": self.new, "changed": self.changed, "moved": self.moved, "removed": self.removed,
            "unchanged": self.unchanged, "embedded": self.embedded,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "seconds": round(self.seconds, 3), "cancelled": self.cancelled,
        }


IndexProgress = Progress[IndexReport]  # phase "scanning" | "embedding" | "done"; report: the run so far


class IndexRun:
    @functools.cached_property
    def batch_size(self) -> int:
        return self._batch_size() if callable(self._batch_size) else self._batch_size

    def __init__(self, catalog: Catalog, model: str, encode: Callable[[list[np.ndarray | RawJpeg]], Future[Encoded]],
                 preprocess: Callable[[], Preprocess], *, batch_size: int | Callable[[], int], workers: int,
                 max_pixels: int,
                 include_hidden: bool, exclude_dirs: tuple[str, ...], backend: DecodeBackend | None = None,
                 decode: str = "threads", card_pixels: Callable[[], int] | None = None) -> None:
        """`card_pixels`: how many JPEG pixels one batch may hand the card to decode, asked once the first
        batch of JPEGs is gathered (the model is loaded then): a batch is full at `batch_size` files or at
        that many pixels, so 512 small pictures go in one batch and 12 MP photos in batches that fit.
        `batch_size` may be asked for only when there is something to embed: choosing it for the device
        imports torch (seconds), which a run that finds every file unchanged never needs."""
        self.catalog = catalog
        self.model = model
        self._encode = encode
        self._preprocess_getter = preprocess
        self._preprocess: Preprocess | None = None
        self._pp_lock = threading.Lock()
        self._batch_size = batch_size
        self.workers = workers
        self.max_pixels = max_pixels
        self.include_hidden = include_hidden
        self.exclude_dirs = exclude_dirs
        self.backend = backend
        self.decode = decode
        self._card_pixels = card_pixels
        self._pixel_budget = 0
        self._processes: ProcessDecoder | None = None
        self._split = DecodeSplit(workers)  # big JPEGs: the card's or the cores'
        self._missing: dict[bytes, list[tuple[ImageRow, bool]]] = {}
        self._missing_lock = threading.Lock()

    def run(self, roots: list[str], cancel: threading.Event) -> Iterator[IndexProgress]:
        report = IndexReport()
        started = time.monotonic()
        items: list[FileItem] = []
        gone: dict[int, tuple[ImageRow, bool]] = {}
        for root in roots:
            yield Progress("scanning", 0, 0, folder=root, report=report)
            items += self._classify(root, report, gone)
            if cancel.is_set():
                break
        for row, embedded in gone.values():
            if row.fingerprint is not None and row.error is None:
                self._missing.setdefault(row.fingerprint, []).append((row, embedded))
        with Checkpointer(self.catalog.conn, self.catalog.db_path) as checkpoints:
            yield from self._process(items, report, cancel, roots[-1] if roots else "", checkpoints)
        with self.catalog.transaction():
            if not cancel.is_set():
                leftover = [row for rows in self._missing.values() for row, _ in rows]
                report.removed += len(leftover)
                self.catalog.delete_images(row.id for row in leftover)
                self.catalog.delete_images(r.id for r, _ in gone.values() if r.fingerprint is None or r.error)
            for root in roots:
                folder = self.catalog.folder_containing(root)
                if folder is not None:
                    self.catalog.mark_scanned(folder.id)
        report.cancelled = cancel.is_set()
        report.seconds = time.monotonic() - started
        report.skipped.sort()
        yield Progress("done", report.embedded, report.embedded, eta=0.0, folder=roots[-1] if roots else "",
                       report=report)

    # classification ---------------------------------------------------------
    def _classify(self, root: str, report: IndexReport, gone: dict[int, tuple[ImageRow, bool]]) -> list[FileItem]:
        with self.catalog.transaction():
            folder_id = self._folder_for(root)
        forgotten = [path for path in self.catalog.excluded() if within(path, root)]
        walked = walk(root, include_hidden=self.include_hidden, exclude_dirs=self.exclude_dirs, skip=forgotten)
        known = self.catalog.images_under(root, self.model)
        if forgotten:  # not this walk's: left alone rather than taken for deleted
            known = {p: v for p, v in known.items() if not any(within(p, f) for f in forgotten)}
        seen: set[str] = set()
        items: list[FileItem] = []
        problem_rows: list[tuple[str, str]] = []
        for path, reason in walked.problems:
            seen.add(path)
            report.skipped.append((path, reason))
            if is_image_name(path):
                problem_rows.append((path, reason))
        for f in walked.files:
            seen.add(f.path)
            entry = known.get(f.path)
            if entry is not None:
                row, embedded = entry
                if row.size == f.size and row.mtime_ns == f.mtime_ns:
                    if row.error is not None:
                        report.skipped.append((f.path, row.error))
                        continue
                    if embedded and row.taken_from is not None:
                        report.unchanged += 1
                        continue  # unchanged, and its facts are kept: nothing to read
                items.append(FileItem(f, folder_id, row, embedded))
            else:
                items.append(FileItem(f, folder_id, None, False))
        if problem_rows:
            with self.catalog.transaction():
                for path, reason in problem_rows:
                    self.catalog.upsert_image(folder_id, path, -1, -1, None, None, None, reason)
        if known and not seen and is_empty_folder(root):
            report.skipped.append((root, f"the folder is empty (a drive or share not mounted?): its {len(known)} "
                                         "indexed files are kept; forget it to drop them"))
            return items
        for path, (row, embedded) in known.items():
            if path not in seen:
                gone[row.id] = (row, embedded)
        return items

    def _folder_for(self, root: str) -> int:
        folder = self.catalog.folder_containing(root)
        return folder.id if folder is not None else self.catalog.add_folder(root)

    # the pipeline -----------------------------------------------------------------
    def _process(self, items: list[FileItem], report: IndexReport, cancel: threading.Event,
                 folder: str, checkpoints: Checkpointer) -> Iterator[IndexProgress]:
        """Decoded files in order; embed batches go to the inference thread, one batch kept in flight."""
        meter = Meter(len(items))
        writes: list[FileResult] = []
        done = 0

        def commit(embedded: list[FileResult], encoded: Encoded | None) -> IndexProgress:
            nonlocal done
            done += len(embedded) + len(writes)
            self._split.gpu_done(sum(r.pixels.width * r.pixels.height for r in embedded
                                     if isinstance(r.pixels, RawJpeg)))
            finished = [r.item.stat for r in (*embedded, *writes)]
            commit_batch(self.catalog, self.model, embedded, encoded, writes, report)
            checkpoints.nudge()
            writes.clear()
            if self._processes is not None:  # their bytes and pixels were used: the workers may write over them
                for stat in finished:
                    self._processes.done_with(stat)
            return meter.at("embedding", done, counted=report.embedded, folder=folder, report=report)

        if items:
            yield meter.at("embedding", 0, folder=folder, report=report)
        plan = plan_reads([item.stat for item in items], self._get_preprocess, decode=self.decode,
                          workers=self.workers, batch_size=self.batch_size if items else 1, max_pixels=self.max_pixels,
                          backend=self.backend, cpu_wanted=self._split.backlog)
        self._processes = plan.processes
        try:
            # on cancel the stream stops: what is decoded but not embedded is redone by the next run
            yield from self._stream(items, plan.workers, plan.window, cancel, writes, commit, plan.backend)
        finally:
            if self._processes is not None:
                self._processes.close()
                self._processes = None

    def _stream(self, items: list[FileItem], workers: int, window: int, cancel: threading.Event,
                writes: list[FileResult], commit: Callable[[list[FileResult], Encoded | None], IndexProgress],
                backend: DecodeBackend | InlineBackend | None) -> Iterator[IndexProgress]:
        batch: list[FileResult] = []
        pixels = 0  # of the batch's JPEGs for the card
        inflight: deque[tuple[Future[Encoded], list[FileResult]]] = deque()
        for one in decoded(items, self._prepare, workers=workers, window=window, cancel=cancel, backend=backend):
            result = one.value if one.value is not None else FileResult("skip", one.item, reason=one.error or "")
            (batch if result.kind == "embed" else writes).append(result)
            if isinstance(result.pixels, RawJpeg) and result.kind == "embed":
                pixels += result.pixels.width * result.pixels.height
            if len(batch) >= self.batch_size or (pixels and pixels >= self._budget()):
                inflight.append((self._encode([r.pixels for r in batch if r.pixels is not None]), batch))
                batch, pixels = [], 0
            while inflight and (len(inflight) >= self._depth() or inflight[0][0].done()):
                future, embedded = inflight.popleft()
                yield commit(embedded, future.result())
            if len(writes) >= 256:
                yield commit([], None)
        if batch and not cancel.is_set():
            inflight.append((self._encode([r.pixels for r in batch if r.pixels is not None]), batch))
        while inflight:
            future, embedded = inflight.popleft()
            yield commit(embedded, future.result())
        if writes:
            yield commit([], None)

    def _budget(self) -> int:
        if not self._pixel_budget:
            self._pixel_budget = self._card_pixels() if self._card_pixels is not None else 1 << 62
        return self._pixel_budget

    def _depth(self) -> int:
        """Batches in flight: one embedding while the next is gathered; with GPU decode, a stage more. (Only
        asked once a batch was sent: the preprocessing is known then, and a rescan with nothing to embed
        never loads the model.)"""
        return 3 if self._preprocess is not None and self._preprocess.raw_jpeg else 2

    def _get_preprocess(self) -> Preprocess:
        with self._pp_lock:
            if self._preprocess is None:
                self._preprocess = self._preprocess_getter()
            return self._preprocess

    def _prepare(self, item: FileItem) -> FileResult:
        """Runs in the decode pool: read once, fingerprint, decode only if needed.

        With worker processes, a worker reads, fingerprints and decodes, and this thread only sorts the
        result (a rare unchanged or moved file was then decoded for nothing). With GPU decode, a JPEG is
        handed on undecoded.
        """
        processes = self._processes
        if processes is not None:
            preprocess = self._get_preprocess()
            fp, width, height, got, facts = processes.result(item.stat)
            done, moved_from = self._by_content(item, fp, facts)
            if done is not None:
                return done
            if isinstance(got, np.ndarray):  # the model's input
                return FileResult("embed", item, fp, width, height, got, moved_from=moved_from, facts=facts)
            shipped = got if got.data else dataclasses.replace(got, data=read_bytes(item.stat.path))  # a big one
            return self._gpu_or_here(item, fp, shipped, preprocess, moved_from, facts)
        data = read_bytes(item.stat.path)  # ImageUnreadable: the pipeline hands back the reason
        fp = fingerprint(data)
        facts = photo_facts(data, item.stat.mtime_ns)
        done, moved_from = self._by_content(item, fp, facts)
        if done is not None:
            return done
        preprocess = self._get_preprocess()
        raw = raw_jpeg(data, self.max_pixels) if preprocess.raw_jpeg else None
        if raw is not None:
            return self._gpu_or_here(item, fp, raw, preprocess, moved_from, facts)
        image, width, height = decode(data, draft_size=preprocess.draft_size, max_pixels=self.max_pixels)
        return FileResult("embed", item, fp, width, height, preprocess(image), moved_from=moved_from, facts=facts)

    def _gpu_or_here(self, item: FileItem, fp: bytes, raw: RawJpeg, preprocess: Preprocess,
                     moved_from: ImageRow | None, facts: PhotoFacts) -> FileResult:
        """A JPEG for the card, or a big one decoded on this thread while the card has a backlog (see
        decode_split; with worker processes, the workers decide)."""
        pixels = raw.width * raw.height
        if self._split.to_gpu(pixels, may_decline=self._processes is None):
            return FileResult("embed", item, fp, *raw.shown_size, raw, moved_from=moved_from, facts=facts)
        try:
            image, width, height = decode(raw.data, draft_size=preprocess.draft_size, max_pixels=self.max_pixels)
            crop = preprocess(image)
        finally:
            self._split.cpu_done()
        return FileResult("embed", item, fp, width, height, crop, moved_from=moved_from, facts=facts)

    def _by_content(self, item: FileItem, fp: bytes,
                    facts: PhotoFacts | None) -> tuple[FileResult | None, ImageRow | None]:
        """A file whose content the catalog has embedded needs no model: touch it, or move its row (the first
        answer). Otherwise it is embedded, under a moved file's old row if it has one (the second)."""
        row = item.row
        if row is not None and row.fingerprint == fp and row.error is None and item.embedded:
            return FileResult("touch", item, fp, facts=facts), None
        claimed = self._claim_move(fp) if row is None or row.fingerprint != fp else None
        if claimed is not None and claimed[1]:
            return FileResult("move", item, fp, moved_from=claimed[0], facts=facts), None
        return None, claimed[0] if claimed is not None else None

    def _claim_move(self, fp: bytes) -> tuple[ImageRow, bool] | None:
        with self._missing_lock:
            rows = self._missing.get(fp)
            if not rows:
                return None
            claimed = rows.pop()
            if not rows:
                del self._missing[fp]
            return claimed
