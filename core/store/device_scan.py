"""Exact search on the card: a copy of one model's live fp16 vectors kept on a torch device, scanned in chunks.

Why: on CUDA a scan reads the matrix at the card's memory bandwidth (100M x 512 fp16 in about 25 ms on an
H200, where 2 CPU cores take 36 ms a million), so a CUDA machine answers exactly at any size that fits
beside the models and needs no approximate index (ann_kind.py). The snapshot (vectors.py) stays the
truth; this is a copy, kept in step the way the approximate index is (ann_keeper.py): rows with a later
catalog seq are copied up, ids in the snapshot's removal log are masked on the card, and only when that
log no longer reaches back (the snapshot was rebuilt from the catalog) or the counts disagree is the
whole copy uploaded again. A snapshot save compacts the host rows but changes no live row: the copy
stays as it is.

Why chunks: full chunks never move; only the last one is reallocated (on the card) as it fills, so an
append copies up only the new rows, and a removal sends only ids. A chunk's size comes from the card's
free memory, leaving room for the models. Scores, filters and the top k are all computed on the card;
only k candidates a chunk come back, merged by the same rule as the CPU scan (`best_of`: ties by id).

Scores are the CPU scan's: fp16 rows times the fp16 query, an fp16 score each (VectorIndex._scores).
Torch is imported inside the functions that need it: importing this module costs nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from clipgit.core.errors import ClipgitError, ModelUnavailable
from clipgit.core.store.vector_source import best_of, id_filter, keep_rows, sorted_unique
from clipgit.core.store.vectors import SnapshotView, VectorIndex

Hits = list[tuple[int, float]]
Run = Callable[[Callable[[], Hits]], Hits]  # runs a job on the thread that owns the models, and waits

CPU_CHUNK_ROWS = 262_144  # a chunk elsewhere than CUDA (tests pass a tiny one to make many)
CHUNK_MIN, CHUNK_MAX = 65_536, 1 << 22  # on CUDA: 4M rows is 4 GB at 512-d; bigger gains nothing (bandwidth-bound)
CHUNK_SHARE = 8  # a chunk is at most this fraction of what the card may hold: the last one can still grow
GROW_MIN = 4_096  # rows the last chunk starts with when few arrive
UPLOAD_ROWS = 65_536  # rows read from the snapshot (maybe a memory map) and copied up at a time
# kept free for the models (CLIP, the captioner, the text reader) and an index run's batches, whose JPEGs
# decode on the card in up to a twelfth of it (models/device_plan.card_pixels)
HEADROOM_SHARE, HEADROOM_MIN = 0.25, 3 << 30


class DeviceFull(ClipgitError):
    """The library's vectors do not fit on the card beside the models; exact search stays on the CPU."""


def _torch() -> Any:
    import torch

    return torch


def _row_bytes(dim: int) -> int:
    """Card memory a row takes: its fp16 vector, id and alive flag, and a query's fp16 score and mask."""
    return 2 * dim + 8 + 1 + 2 + 1


def _headroom(total: int) -> int:
    return max(HEADROOM_MIN, int(total * HEADROOM_SHARE))


def chunk_rows_for(device: str, dim: int) -> int:
    """Rows a chunk holds: on CUDA a share of what the card may hold beside the models (its free memory less
    the headroom), CPU_CHUNK_ROWS elsewhere."""
    if not device.startswith("cuda"):
        return CPU_CHUNK_ROWS
    free, total = _torch().cuda.mem_get_info(device)
    room = max(0, free - _headroom(total)) // _row_bytes(dim) // CHUNK_SHARE
    return int(min(CHUNK_MAX, max(CHUNK_MIN, room)))


def _member(values: Any, sorted_set: Any) -> Any:
    """vector_source.member on the card: which values are in a sorted, repeat-free tensor."""
    torch = _torch()
    if sorted_set.numel() == 0:
        return torch.zeros_like(values, dtype=torch.bool)
    at = torch.searchsorted(sorted_set, values).clamp_(max=sorted_set.numel() - 1)
    return sorted_set[at] == values


@dataclass
class _Chunk:
    mat: Any  # fp16 (capacity, dim) on the device
    ids: Any  # int64 (capacity,)
    alive: Any  # bool (capacity,)
    count: int = 0  # rows filled
    dead: int = 0  # of those, rows masked out (removed): a chunk without any skips the mask when unfiltered

    @property
    def cap(self) -> int:
        return int(self.mat.shape[0])


class DeviceScan:
    """The live rows of one VectorIndex on `device`; `sync` brings them in step, `top_k` answers as
    VectorIndex.top_k does. Not thread-safe: ExactScan runs it on one thread."""

    def __init__(self, device: str = "cuda", *, chunk_rows: int = 0) -> None:
        self.device = device
        self.chunk_rows = chunk_rows  # 0: chosen at the first upload (chunk_rows_for)
        self.dim = 0
        self.live = 0
        self.uploads = 0  # whole uploads: the first, and one after each rebuild of the snapshot
        self.version: int | None = None  # the snapshot view the copy is in step with
        self._chunks: list[_Chunk] = []
        self._last_seq = 0
        self._gone_pos = 0

    # keeping in step ---------------------------------------------------------
    def sync(self, vectors: VectorIndex) -> None:
        """Bring the copy to the snapshot's live rows (call `vectors.refresh` first). Raises DeviceFull."""
        view = vectors.view()
        if view.version == self.version:
            return
        with self._out_of_memory():
            gone = None if self.version is None else vectors.removed_since(self._gone_pos)
            if gone is None or view.matrix.shape[1] != self.dim:
                self.load(view)
                return
            self._remove(gone)  # before the appends: an image embedded again keeps its new row
            start = int(np.searchsorted(view.seqs, self._last_seq, side="right"))
            fresh = np.flatnonzero(view.alive[start:]) + start
            self._add(view.matrix, fresh, view.ids[fresh])
            self._in_step(view)
            if self.live != int(view.stats[0]):  # a removal logged after this view was taken, or drift: start over
                self.load(view)

    def load(self, view: SnapshotView) -> None:
        """Upload the view's live rows whole. Raises DeviceFull (leaving the copy empty)."""
        with self._out_of_memory():
            self.close()
            rows = np.flatnonzero(view.alive)
            self.dim = int(view.matrix.shape[1])
            self.chunk_rows = self.chunk_rows or chunk_rows_for(self.device, self.dim)
            self._check_room(len(rows))
            self._add(view.matrix, rows, view.ids[rows])
            self._in_step(view)
            self.uploads += 1

    def close(self) -> None:
        """Free the card's memory (the next sync uploads again)."""
        had = bool(self._chunks)
        self._chunks, self.live, self.version = [], 0, None
        if had and self.device.startswith("cuda"):
            _torch().cuda.empty_cache()  # so that the free memory the next upload checks counts these

    def _in_step(self, view: SnapshotView) -> None:
        self._last_seq, self._gone_pos, self.version = view.last_seq, view.gone_pos, view.version

    @contextlib.contextmanager
    def _out_of_memory(self) -> Iterator[None]:
        """A card that runs out of memory (copying up, or scoring) is left empty, and says DeviceFull."""
        try:
            yield
        except DeviceFull:
            self.close()
            raise
        except (MemoryError, _torch().cuda.OutOfMemoryError):
            self.close()
            raise DeviceFull(f"out of memory on {self.device} for the library's vectors") from None

    def _check_room(self, rows: int) -> None:
        """On CUDA: raise DeviceFull unless `rows` more rows leave the headroom free."""
        if not self.device.startswith("cuda") or rows <= 0:
            return
        free, total = _torch().cuda.mem_get_info(self.device)
        need, keep = rows * _row_bytes(self.dim), _headroom(total)
        if free - need < keep:
            raise DeviceFull(f"{rows:,} more vectors need {need / 2**30:.1f} GB on {self.device}: "
                             f"{free / 2**30:.1f} GB free, {keep / 2**30:.1f} GB kept for the models")

    def _add(self, matrix: np.ndarray, rows: np.ndarray, ids: np.ndarray) -> None:
        """Copy rows `rows` of the host matrix (ids `ids`) up, after the last one."""
        torch = _torch()
        done = 0
        while done < len(rows):
            chunk = self._with_room(len(rows) - done)
            take = min(len(rows) - done, chunk.cap - chunk.count, UPLOAD_ROWS)
            part = rows[done:done + take]
            at = slice(chunk.count, chunk.count + take)
            contiguous = part[-1] - part[0] == take - 1  # a whole upload reads runs of rows: a slice, not a gather
            host = matrix[part[0]:part[-1] + 1] if contiguous else matrix[part]
            chunk.mat[at].copy_(torch.from_numpy(np.ascontiguousarray(host, dtype=np.float16)))
            chunk.ids[at].copy_(torch.from_numpy(np.ascontiguousarray(ids[done:done + take], dtype=np.int64)))
            chunk.alive[at] = True
            chunk.count += take
            done += take
        self.live += len(rows)

    def _with_room(self, want: int) -> _Chunk:
        """The last chunk with room for at least one more row: grown on the card up to `chunk_rows`, or a new one."""
        last = self._chunks[-1] if self._chunks else None
        if last is not None and last.count < last.cap:
            return last
        if last is not None and last.cap < self.chunk_rows:
            cap = min(self.chunk_rows, max(2 * last.cap, last.count + want))
            self._check_room(cap - last.cap)
            grown = self._empty(cap)
            for old, new in ((last.mat, grown.mat), (last.ids, grown.ids), (last.alive, grown.alive)):
                new[:last.count] = old[:last.count]
            last.mat, last.ids, last.alive = grown.mat, grown.ids, grown.alive
            return last
        cap = min(self.chunk_rows, max(want, GROW_MIN))
        self._check_room(cap)
        chunk = self._empty(cap)
        self._chunks.append(chunk)
        return chunk

    def _empty(self, cap: int) -> _Chunk:
        torch = _torch()
        return _Chunk(torch.empty((cap, self.dim), dtype=torch.float16, device=self.device),
                      torch.empty(cap, dtype=torch.int64, device=self.device),
                      torch.zeros(cap, dtype=torch.bool, device=self.device))

    def _remove(self, gone: np.ndarray) -> None:
        """Mask the rows of these ids."""
        if not len(gone) or not self.live:
            return
        torch = _torch()
        ids = torch.from_numpy(np.ascontiguousarray(sorted_unique(gone))).to(self.device)
        for chunk in self._chunks:
            alive = chunk.alive[:chunk.count]
            hit = alive & _member(chunk.ids[:chunk.count], ids)
            hits = int(hit.sum())
            if hits:
                alive &= ~hit
                chunk.dead += hits
                self.live -= hits

    # searching -----------------------------------------------------------------
    def top_k(self, query: np.ndarray, k: int, *, allow: np.ndarray | None = None,
              exclude: set[int] | frozenset[int] = frozenset()) -> Hits:
        """As VectorIndex.top_k (call `sync` first): best (image id, cosine) pairs, ties by id."""
        if self.live == 0 or k <= 0:
            return []
        if query.shape[-1] != self.dim:
            raise ValueError(f"query has {query.shape[-1]} dimensions, library vectors {self.dim}")
        allowed, excluded = id_filter(allow, exclude)
        if allowed is not None and not len(allowed):
            return []
        torch = _torch()
        q, allow_t, exclude_t = (None if a is None else torch.from_numpy(np.ascontiguousarray(a)).to(self.device)
                                 for a in (np.ascontiguousarray(query, dtype=np.float16), allowed, excluded))
        with torch.inference_mode(), self._out_of_memory():
            scores = []
            for chunk in self._chunks:
                n = chunk.count
                s = torch.mv(chunk.mat[:n], q)  # the CPU scan's product (VectorIndex._scores)
                if chunk.dead or allow_t is not None or exclude_t is not None:
                    s.masked_fill_(~keep_rows(chunk.ids[:n], chunk.alive[:n], allow_t, exclude_t, _member),
                                   float("-inf"))
                scores.append(s)
            ids, best = self._merge(scores, k)
        return list(zip(ids.tolist(), best.tolist()))

    def _merge(self, scores: list[Any], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Each chunk's k best come back from the card; `best_of` picks among them. A chunk cut at the k-th
        best score may hold more rows of that score than it sent: all of them are fetched, so that ties are
        decided by id as on the CPU."""
        torch = _torch()
        tops = [torch.topk(s, min(k, len(s))) for s in scores]
        sizes = [len(t.values) for t in tops]
        vals = torch.cat([t.values for t in tops]).float().cpu().numpy()
        ids = torch.cat([c.ids[t.indices] for c, t in zip(self._chunks, tops)]).cpu().numpy()
        parts = list(zip(np.split(ids, np.cumsum(sizes)[:-1]), np.split(vals, np.cumsum(sizes)[:-1])))
        finite = vals[vals > -np.inf]
        if len(finite) >= k:
            floor = np.partition(finite, len(finite) - k)[len(finite) - k]
            for j, (chunk, s) in enumerate(zip(self._chunks, scores)):
                part_ids, part_vals = parts[j]
                if sizes[j] < chunk.count and part_vals[-1] == floor:
                    tied = torch.nonzero(s == float(floor)).squeeze(1)
                    keep = part_vals != floor
                    parts[j] = (np.concatenate([part_ids[keep], chunk.ids[tied].cpu().numpy()]),
                                np.concatenate([part_vals[keep], np.full(len(tied), floor, dtype=np.float32)]))
        return best_of(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), k)


def scan_device(setting: str) -> str | None:
    """The torch device exact search scans on for the engine's device (a setting, or the model's resolved
    device): "cuda" where it runs on CUDA, None for the CPU scan. Imports torch only where an NVIDIA driver
    is loaded (models/device_plan.py)."""
    from clipgit.core.models.device_plan import uses_cuda

    try:
        return "cuda" if uses_cuda(setting) else None
    except ModelUnavailable:  # cuda asked for, none seen: the model's load says so; search scans on the CPU
        return None


class ExactScan:
    """The exact path of one model's vectors, as the engine runs it: VectorIndex.top_k on the CPU; where the
    engine's device is CUDA, a DeviceScan made on the first exact search and driven on the thread that owns
    the models (`run`: the card's memory is shared with them, and allocations are made in turn). A library
    that does not fit on the card is scanned on the CPU from then on, with a note."""

    def __init__(self, vectors: VectorIndex, device: Callable[[], str], run: Run | None = None, *,
                 chunk_rows: int = 0) -> None:
        self.vectors = vectors
        self._device = device  # the engine's device: the model's once loaded, else the setting
        self._run: Run = run or (lambda job: job())
        self._chunk_rows = chunk_rows
        self._card: str | None = None
        self._resolved = False
        self._scan: DeviceScan | None = None
        self._lock = threading.Lock()
        self.note = ""

    def where(self) -> str:
        """Where exact search runs: "cpu", or the card's torch device ("cuda")."""
        if not self._resolved:
            self._card, self._resolved = scan_device(self._device()), True
        return self._card or "cpu"

    @property
    def scan(self) -> DeviceScan | None:
        return self._scan

    def top_k(self, query: np.ndarray, k: int, *, allow: np.ndarray | None = None,
              exclude: set[int] | frozenset[int] = frozenset()) -> Hits:
        """As VectorIndex.top_k (call `vectors.refresh` first), on the card where there is one."""
        self.where()
        if self._card is not None:
            try:
                return self._run(lambda: self._on_card(query, k, allow, exclude))
            except DeviceFull as err:
                self._give_up(err)
        return self.vectors.top_k(query, k, allow=allow, exclude=exclude)

    def _on_card(self, query: np.ndarray, k: int, allow: np.ndarray | None,
                 exclude: set[int] | frozenset[int]) -> Hits:
        with self._lock:
            if self._card is None:  # given up meanwhile
                raise DeviceFull(self.note)
            if self._scan is None:
                self._scan = DeviceScan(self._card, chunk_rows=self._chunk_rows)
            self._scan.sync(self.vectors)
            return self._scan.top_k(query, k, allow=allow, exclude=exclude)

    def _give_up(self, err: DeviceFull) -> None:
        with self._lock:
            if self._scan is not None:
                self._scan.close()
            self._scan, self._card = None, None
            self.note = f"{err}: exact search runs on the CPU"

    def close(self) -> None:
        with self._lock:
            if self._scan is not None:
                self._scan.close()
            self._scan = None
