"""The approximate index kept beside one model's vector snapshot: which kind answers, building the index in
the background, keeping it in step with the catalog, and its file in the data dir.

Why a keeper: the index (ann.py) is derived data, like the snapshot (vectors.py), and must never answer
from a state the catalog has left. So the index carries the snapshot's figures (count and two checksums
of ids, the catalog's `vector_stats`) and the last catalog seq it holds; before it answers, rows with a
later seq are added and removed ids taken out (from the snapshot's removal log, or by comparing ids when
the log does not reach back, as after a load by another process). Small changes are applied on the
searching thread; big ones, a missing, damaged or stale file, and drift past DRIFT_MAX go to one
background thread, and search answers exactly meanwhile with a one-line note. A build writes its file
atomically (ann_file.py), so `kill -9` at any moment leaves the previous file or the new one; the
catalog is untouched by all of this.

Which kind: `vector_index = exact | ann | auto`; auto is exact below the crossover (`ann_crossover`, or
measured for this machine: ann_kind.py) and the index above it. A library that shrinks below it goes
back to exact and its index file is removed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from clipgit.core.errors import Cancelled, ClipgitError
from clipgit.core.store.ann import AnnIndex, IndexDamaged, IndexMissing, Machine, choose_kind, index_path
from clipgit.core.store.ann_file import files_size, read_header, remove_index
from clipgit.core.store.ann_kind import crossover_count
from clipgit.core.store.device_scan import ExactScan
from clipgit.core.store.vector_source import Ids, VectorSource, member, sorted_unique
from clipgit.core.store.vectors import SnapshotView, VectorIndex, id_hashes

DRIFT_MAX = 0.2  # vectors added or removed since the build, as a share of it: past it, rebuild
INLINE_MAX = 20_000  # changes applied on the searching thread; more go to the background
INLINE_MAPPED_MAX = 1_000_000  # a mapped index past this size takes even one change in the background
SAVE_EVERY = 5_000  # changes since the last save that make the next quiet moment save the index
RECALL_QUERIES = 20  # library images used as queries to measure recall@10 after a build


@dataclass(frozen=True)
class VectorIndexFacts:
    """What `status` says: which kind answers and, when there is one, the index's size, age and recall."""

    setting: str  # auto | exact | ann
    wanted: str  # exact | ann: what the setting and the crossover ask for at this size
    answering: str  # exact | ann: what answers now (exact while the index is built or stale)
    vectors: int
    crossover: int  # the size past which `auto` wants the index (set, or from ann_kind's measurements); 0: never
    index_vectors: int = 0
    index_bytes: int = 0
    built: float | None = None  # seconds since the epoch
    recall: float | None = None  # recall@10 on library images as queries, measured after the build
    added: int = 0  # vectors added and removed since the build (in the file): past DRIFT_MAX of it, a rebuild
    removed: int = 0
    current: bool = False  # the file's figures equal the catalog's
    building: bool = False
    note: str = ""
    exact_on: str = "cpu"  # cpu | cuda: where an exact scan runs (device_scan.py)

    def as_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class AnnKeeper:
    """One model's approximate index, owned by the engine beside that model's VectorIndex."""

    def __init__(self, vectors: VectorIndex, data_dir: Path, *, setting: str = "auto", crossover: int = 0,
                 machine: Machine | None = None, scanner: ExactScan | None = None) -> None:
        self.vectors = vectors
        self.scanner = scanner  # the exact path on the card, where the engine's device is CUDA (None: the CPU's)
        self.path = index_path(data_dir, vectors.model)
        self.setting, self.crossover = setting, crossover
        self.machine = machine or Machine.here()
        self._index: AnnIndex | None = None
        self._gone_pos: int | None = None  # the removal log position the index is in step with
        self._unsaved = 0
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._verifier: threading.Thread | None = None  # the checksum pass over a file opened without it
        self._owned = False  # the background job works on the index itself: it does not answer meanwhile
        self._cancel = threading.Event()
        self._closing = threading.Event()
        self._source: tuple[SnapshotView, VectorSource] | None = None
        self.note = ""  # one line: why search answers exactly though the index is wanted
        self.last_route = "exact"

    # which kind ------------------------------------------------------------
    def wanted(self, n: int, dim: int) -> str:
        if self.setting == "exact" or n == 0:
            return "exact"
        if self.setting == "ann":
            return "ann"
        if self.crossover:
            return "ann" if n >= self.crossover else "exact"
        return choose_kind(n, dim, self._machine())

    def _machine(self) -> Machine:
        """This machine, as the crossover sees it: with CUDA when exact search runs on the card (it then
        scans exactly at any size that fits there)."""
        if self.scanner is None or self.machine.cuda:
            return self.machine
        return replace(self.machine, cuda=self.scanner.where().startswith("cuda"))

    # searching -------------------------------------------------------------
    def top_k(self, query: np.ndarray, k: int, *, allow: np.ndarray | None = None,
              exclude: set[int] | frozenset[int] = frozenset(), exact: bool = False) -> list[tuple[int, float]]:
        """As VectorIndex.top_k (call `vectors.refresh` first): through the index when it is wanted and in
        step, exactly otherwise. Every score is exact either way."""
        view = self.vectors.view()
        index = None if exact else self.ready(view)
        if index is None:
            self.last_route = "exact"
            exact_path = self.vectors if self.scanner is None else self.scanner
            return exact_path.top_k(query, k, allow=allow, exclude=exclude)
        hits = index.search(query, k, self._source_of(view), allow=allow,
                            exclude=np.fromiter(exclude, dtype=np.int64, count=len(exclude)))
        self.last_route = hits.route
        return list(zip(hits.ids.tolist(), hits.scores.tolist()))

    def ready(self, view: SnapshotView) -> AnnIndex | None:
        """The index, in step with `view`, when it is wanted and can answer now; else None (and, where it
        is wanted, a background job that makes it ready)."""
        n = int(view.stats[0])
        if self.wanted(n, view.matrix.shape[1]) == "exact":
            self._drop()
            return None
        with self._lock:
            if self._index is None and not self.busy():
                self._index = self._open_current(view)
            index = self._index
            if index is not None and not (self.busy() and self._owned):
                pos = self._catch_up(index, view, self._gone_pos, inline=True)
                if pos is not None:
                    self._gone_pos = pos
                    if index.drift > DRIFT_MAX:  # rebuilt in the background; this one answers meanwhile
                        self._start(rebuild=True)
                    return index
            self._start(rebuild=False, view=view)
            return None

    def _open_current(self, view: SnapshotView) -> AnnIndex | None:
        """The index file, memory-mapped on this thread when it holds the catalog's figures: milliseconds
        at any size, so a library opens and answers its first query through the index. Its checksum pass
        runs in the background; a file that fails it is removed and rebuilt. Anything else (no file, a
        stale or damaged one) is left to the background job."""
        if not self._file_current(view.stats):
            return None
        try:
            index = AnnIndex.load(self.path, model=self.vectors.model, verify=False)
        except IndexDamaged:
            return None
        self._verifier = threading.Thread(target=self._verify, args=(index,), name="clipgit-ann-verify", daemon=True)
        self._verifier.start()
        return index

    def _verify(self, index: AnnIndex) -> None:
        try:
            index.verify(self._closing.is_set)
        except IndexDamaged as err:
            with self._lock:
                if self._index is not index:
                    return
                self._index, self._source = None, None
                self.note = f"{err} (answering exactly meanwhile)"
                remove_index(self.path)
                self._start(rebuild=False)

    def source(self) -> tuple[AnnIndex, VectorSource] | None:
        """The index in step with the snapshot and the rows it answers from, for whole-library work
        (near-duplicates); None when exact work should be done."""
        view = self.vectors.view()
        index = self.ready(view)
        return None if index is None else (index, self._source_of(view))

    def _source_of(self, view: SnapshotView) -> VectorSource:
        with self._lock:
            if self._source is None or self._source[0].version != view.version:
                self._source = (view, VectorSource(view.matrix, view.ids, view.alive, view.file_rows))
            return self._source[1]

    # keeping in step -------------------------------------------------------
    def _catch_up(self, index: AnnIndex, view: SnapshotView, pos: int | None, *, inline: bool) -> int | None:
        """Bring the index to `view`'s state, given the removal log position it is in step with (None: not
        known, ids are compared). Returns the new position, or None when that is too much for the searching
        thread (inline) or impossible (the index holds other ids: rebuild)."""
        state = index.state
        if _figures(state) == view.stats and state.get("seq") == view.last_seq:
            return view.gone_pos if pos is None else pos
        start = int(np.searchsorted(view.seqs, int(state.get("seq", 0)), side="right"))
        fresh = np.flatnonzero(view.alive[start:]) + start
        gone = None if pos is None else self.vectors.removed_since(pos)
        if inline and (gone is None or len(fresh) + len(gone) > INLINE_MAX
                       or (index.mapped and index.count > INLINE_MAPPED_MAX and len(fresh) + len(gone) > 0)):
            return None  # a big mapped index's first change copies its lists (13-17 s at 10M): not here
        if gone is None:  # compare ids: those the index holds that no live row has
            held = sorted_unique(np.concatenate([index.list_members(i) for i in range(index.nlist)]))
            gone = held[~member(held, sorted_unique(view.ids[view.alive]))]
        index.remove(gone)
        if len(fresh):
            index.add(view.matrix[fresh], view.ids[fresh])
        if index.count != view.stats[0]:
            return None
        index.state.update(_state_of(view))
        self._unsaved += len(fresh) + len(gone)
        return view.gone_pos

    # the background job ----------------------------------------------------
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _start(self, *, rebuild: bool, view: SnapshotView | None = None) -> None:
        """The background job: a rebuild beside the index that answers, or (owned) a load or catch-up of
        the index itself, during which search answers exactly (with a note, unless the file on disk is
        current and only being read: a short-lived process answers exactly and quietly)."""
        if self.busy():
            return
        self._owned = not rebuild
        if view is not None and not self._file_current(view.stats):
            self.note = "preparing the approximate index: answering exactly meanwhile"
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._prepare, args=(self._cancel, rebuild), name="clipgit-ann",
                                        daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background job (tests, benchmarks); True when none is running."""
        if self._verifier is not None:
            self._verifier.join(timeout)
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.busy()

    def _prepare(self, cancel: threading.Event, rebuild: bool) -> None:
        """Load, catch up or build, then save."""
        try:
            view = self.vectors.view()
            index, pos = (None, None) if rebuild else (self._index, self._gone_pos)
            if index is None and not rebuild:
                index = self._load()
            if index is not None:
                pos = self._catch_up(index, view, pos, inline=False)
                if pos is None or index.drift > DRIFT_MAX:
                    self.note = "the approximate index drifted from the library: rebuilding it, answering " \
                                "exactly meanwhile"
                    index = None
            if index is None:
                if not rebuild and not self.note.startswith(("the approximate index drifted", "approximate")):
                    self.note = f"building the approximate index ({int(view.stats[0]):,} vectors): answering " \
                                "exactly meanwhile"
                index, pos = self._build(view, cancel), view.gone_pos
            with self._lock:
                if cancel.is_set():
                    return
                self._index, self._gone_pos, self._source = index, pos, None
                self._owned = False
            if self._unsaved or not self.path.exists():
                self.save()
            self.note = ""
        except Cancelled:
            pass
        except (MemoryError, OSError, ClipgitError, RuntimeError) as err:
            self.note = f"no approximate index ({_reason(err)}): answering exactly"

    def _file_current(self, stats: tuple[int, int, int]) -> bool:
        try:
            state = read_header(self.path).get("state")
        except (IndexDamaged, OSError):
            return False
        return isinstance(state, dict) and _figures(state) == stats

    def _load(self) -> AnnIndex | None:
        try:
            return AnnIndex.load(self.path, model=self.vectors.model)
        except IndexMissing:
            return None
        except IndexDamaged as err:
            self.note = f"{err} (answering exactly meanwhile)"
            return None

    def _build(self, view: SnapshotView, cancel: threading.Event) -> AnnIndex:
        source = VectorSource(view.matrix, view.ids, view.alive, view.file_rows)
        started = time.time()
        index = AnnIndex.build(source, model=self.vectors.model, state=_state_of(view), cancel=cancel)
        index.state.update(built=started, build_s=round(time.time() - started, 1),
                           recall=_recall(index, source, RECALL_QUERIES))
        self._unsaved = 1
        return index

    def save(self) -> None:
        """Write the index file (atomically) when it holds changes the file lacks."""
        with self._lock:
            index = self._index
            if index is None:
                return
            index.save(self.path)
            self._unsaved = 0

    def save_if_changed(self, at_least: int = 1) -> None:
        if self._unsaved >= at_least and not self.busy():
            with contextlib.suppress(OSError):  # a full disk: the next open rebuilds
                self.save()

    def _drop(self) -> None:
        """Below the crossover: exact answers; the index and its file go."""
        if self._index is None and not self.busy() and not self.path.exists():
            return
        self._cancel.set()
        with self._lock:
            self._index, self._source = None, None
        self.note = ""
        if not self.busy():
            remove_index(self.path)

    def close(self) -> None:
        """Stop a background job; keep many changes made since the last save (fewer are caught up on the
        next load by comparing ids, cheaper than writing the file each time)."""
        self._closing.set()
        self._cancel.set()
        self.wait(5)
        self.save_if_changed(SAVE_EVERY)
        if self.scanner is not None:
            self.scanner.close()

    # status ----------------------------------------------------------------
    def facts(self, stats: tuple[int, int, int], dim: int) -> VectorIndexFacts:
        """From the file's header (no checksum pass) and the catalog's figures: cheap, needs no load."""
        n = int(stats[0])
        wanted = self.wanted(n, dim or 512)
        header: dict[str, Any] = {}
        with contextlib.suppress(IndexDamaged, OSError):
            header = read_header(self.path)
        found = header.get("state")
        state: dict[str, Any] = found if isinstance(found, dict) else {}
        current = bool(header) and _figures(state) == stats
        answering = "ann" if wanted == "ann" and (current or (self._index is not None and not self.busy())) else "exact"
        size = files_size(self.path) if header else 0
        scanner = self.scanner
        crossover = self.crossover or crossover_count(dim or 512, self._machine())
        return VectorIndexFacts(self.setting, wanted, answering, n, crossover, int(header.get("count", 0)),
                                size, state.get("built"), state.get("recall"), int(header.get("added", 0)),
                                int(header.get("removed", 0)), current, self.busy(),
                                self.note or (scanner.note if scanner else ""),
                                exact_on=scanner.where() if scanner else "cpu")


def _state_of(view: SnapshotView) -> dict[str, int]:
    count, idsum, idhash = view.stats
    return {"count": int(count), "idsum": int(idsum), "idhash": int(idhash), "seq": int(view.last_seq)}


def _figures(state: dict[str, Any]) -> tuple[int, int, int] | None:
    try:
        return int(state["count"]), int(state["idsum"]), int(state["idhash"])
    except (KeyError, TypeError, ValueError):
        return None




def _recall(index: AnnIndex, source: VectorSource, count: int) -> float | None:
    """recall@10 of the index against an exact scan, on library images as queries (each left out of its
    own answer). Text queries recall somewhat less (docs/scale.md)."""
    rows = source.live_rows()
    if len(rows) <= 10:
        return None
    picked = np.random.default_rng(7).choice(rows, size=min(count, len(rows)), replace=False)
    found = 0
    for row in picked.tolist():
        q = np.asarray(source.matrix[row], dtype=np.float32)
        q /= max(float(np.linalg.norm(q)), 1e-9)
        own: Ids = source.row_ids[row:row + 1]
        want = source.scan(q, 10, own)[0]
        got = index.search(q, 10, source, exclude=own).ids
        found += len(set(want.tolist()) & set(got.tolist()))
    return round(found / (10 * len(picked)), 4)


def _reason(err: BaseException) -> str:
    if isinstance(err, MemoryError):
        return "out of memory"
    if isinstance(err, OSError):
        return err.strerror or str(err)
    return str(err).split("\n")[0]


__all__ = ["AnnKeeper", "VectorIndexFacts", "id_hashes"]
