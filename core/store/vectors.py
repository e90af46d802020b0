"""The in-memory matrix of one model's vectors, exact top-k, and its snapshot file.

Why a snapshot beside the catalog: reading a million 2 KB blobs out of SQLite
takes many seconds, while one fp16 matrix file loads in a fraction of one.
The catalog stays the truth: the snapshot records the last embedding and
removal it has seen, and `refresh` replays only what came after, so vectors
written by another process (or an index run in progress) show up in search.

Why the checks: any number of writers (several index runs, the app's watcher,
forget, a model switch) in any process may change the catalog, and a process
may be killed at any point. The matrix keeps the count and two checksums of
its live ids as it changes; the catalog keeps the same three figures by
triggers (`vector_stats`, migration 6). After every refresh they must agree, or the matrix
is rebuilt from the catalog: a snapshot never answers with a vector the
catalog does not hold, nor holds an image twice.

fp16 halves memory and is the fastest CPU matvec we measured (about 30 ms for
1M x 512 on 2 cores).

Why memory-mapped: a 10M library's matrix is 10 GB. Opening maps the snapshot's
matrix (copy-on-write, MAP_PRIVATE) instead of reading it, so a library opens
in the time it takes to read its ids (16 bytes a row), and only the rows a
search touches are paged in (and may be dropped again by the kernel). The file
ends in spare rows (a sparse hole: no disk used) so images added later are
written into the mapping's private pages, never into the file, and never copy
the matrix; past the spare rows the matrix moves into memory until the next
snapshot maps it again. Writers never change a snapshot file in place: each
save writes a new file and renames it over the old one, so another process's
mapping keeps the old file's pages, whole. (A file truncated in place by
something else would fault the mapping; clipgit never does that.)
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from clipgit.core.store.catalog import Catalog
from clipgit.core.store.vector_source import FileRows, best_of, id_filter, keep_rows, member

SNAPSHOT_DELTA = 5_000  # rewrite the snapshot once this many rows changed since it
SPARE_ROWS_MIN = 16_384  # spare rows at a snapshot's end (and an eighth of its rows, if more): appends land there
MAGIC = b"CLIPGIT-VECTORS-2\n"
HEADER_BYTES = 4096  # the header (magic + JSON, space-padded); then ids, seqs (int64 each), the fp16 matrix
HASH_MUL, HASH_MOD = 2654435761, 1 << 32  # the id hash the catalog's triggers use (migration 6)
_WRITE_ROWS = 65_536  # rows gathered at a time when a snapshot is written (64 MB at 512-d)
GONE_LOG_MAX = 1_000_000  # removed ids remembered for the approximate index's updates (past it: a full diff)


@dataclass(frozen=True)
class SnapshotView:
    """The live rows at one moment, for the approximate index (ann_keeper.py): later appends, removals and
    rewrites of the snapshot do not change these arrays (`alive` is a copy; rows below `len(ids)` are never
    written again, a rewrite makes new arrays). Rows are in catalog order: `seqs` increase."""

    matrix: np.ndarray
    ids: np.ndarray
    seqs: np.ndarray
    alive: np.ndarray
    stats: tuple[int, int, int]  # as `figures()`
    last_seq: int
    gone_pos: int  # position in the removal log (`removed_since`)
    version: int  # changes whenever the live rows do
    file_rows: FileRows | None = None  # the rows of `matrix` its file holds, for reading without the mapping


def id_hashes(ids: np.ndarray) -> np.ndarray:
    """Each id's hash, as the catalog computes it: (id * 2654435761) mod 2^32."""
    # a uint64 view (the same bits as astype, no copy), wrapping products, and a mask for the mod: at 10M
    # ids a third of the time opening a library took with astype and %
    hashed = np.ascontiguousarray(ids, dtype=np.int64).view(np.uint64) * np.uint64(HASH_MUL)
    hashed &= np.uint64(HASH_MOD - 1)
    return hashed


class VectorIndex:
    def __init__(self, model: str, snapshot_dir: Path) -> None:
        self.model = model
        key = hashlib.sha1(model.encode("utf-8")).hexdigest()[:16]
        self._old_base = snapshot_dir / f"vectors-{key}"  # the three files written before one was enough
        self.path = snapshot_dir / f"vectors-{key}.snap"
        self._lock = threading.RLock()
        self._reset(0)
        self._loaded = False
        self._gone: list[np.ndarray] = []  # ids removed, in order, from position _gone_start to _gone_end
        self._gone_start = self._gone_end = 0
        self.rebuilds = 0  # times the matrix disagreed with the catalog and was read again from it

    def _reset(self, dim: int) -> None:
        self.dim = dim
        self._n = 0
        self._mat = np.zeros((0, dim), dtype=np.float16)
        self._ids = np.zeros(0, dtype=np.int64)
        self._seqs = np.zeros(0, dtype=np.int64)
        self._alive = np.zeros(0, dtype=bool)
        self._last_seq = 0
        self._last_removal = 0
        self._delta = 0
        self._stats = (0, 0, 0)  # live rows: count, sum of ids, sum of id hashes
        self._version = getattr(self, "_version", 0) + 1
        self._view: SnapshotView | None = None
        self._file_rows: FileRows | None = None

    # loading -------------------------------------------------------------
    def refresh(self, catalog: Catalog) -> None:
        """Bring the matrix up to date with the catalog (cheap when nothing changed); rebuild it from the
        catalog when the two disagree."""
        with self._lock:
            if not self._loaded:
                self._load_snapshot()
                self._loaded = True
            with catalog.read():  # removals, additions and the figures from one state of the catalog
                self._replay(catalog)
                if self._stats != catalog.vector_stats(self.model):
                    self.rebuilds += 1
                    self._forget_gone()
                    self._reset(self.dim)
                    self._last_removal = catalog.last_removal(self.model)
                    self._append(catalog)
                    self._delta = max(self._delta, SNAPSHOT_DELTA)  # the file on disk is wrong: rewrite it
            if self._delta >= SNAPSHOT_DELTA:
                self.save_snapshot()

    def _replay(self, catalog: Catalog) -> None:
        removals = catalog.removals_after(self.model, self._last_removal)
        if removals:
            gone = np.fromiter((r[1] for r in removals), dtype=np.int64, count=len(removals))
            hit = self._alive[: self._n] & np.isin(self._seqs[: self._n], gone)
            self._alive[: self._n] &= ~hit
            self._count_rows(self._ids[: self._n][hit], -1)
            self._log_gone(self._ids[: self._n][hit])
            self._last_removal = removals[-1][0]
            self._delta += len(removals)
        self._append(catalog)

    def _count_rows(self, ids: np.ndarray, sign: int) -> None:
        count, idsum, idhash = self._stats
        self._version += 1
        self._stats = (count + sign * len(ids), idsum + sign * int(ids.sum()),
                       idhash + sign * int(id_hashes(ids).sum()))

    def _append(self, catalog: Catalog) -> None:
        rows = catalog.embeddings_after(self.model, self._last_seq)
        while True:
            chunk = rows.fetchmany(20_000)
            if not chunk:
                return
            dim = len(chunk[0][2]) // 4
            if self.dim != dim and self._n == 0:  # the first rows: they say the model's dimension
                self.dim = dim
                self._mat = np.zeros((0, dim), dtype=np.float16)
            vecs = np.frombuffer(b"".join(r[2] for r in chunk), dtype=np.float32).reshape(len(chunk), dim)
            self._grow(self._n + len(chunk))
            sl = slice(self._n, self._n + len(chunk))
            self._mat[sl] = vecs
            self._ids[sl] = [r[1] for r in chunk]
            self._seqs[sl] = [r[0] for r in chunk]
            self._alive[sl] = True
            self._count_rows(self._ids[sl], +1)
            self._n += len(chunk)
            self._last_seq = chunk[-1][0]
            self._delta += len(chunk)

    def _grow(self, need: int) -> None:
        """Room for `need` rows: the ids grow in memory; the matrix only when its spare rows (a mapped
        snapshot's hole, or memory) run out, as an in-memory copy then."""
        cap = len(self._ids)
        if need > cap:
            new_cap = max(need, int(cap * 1.5) + 1024)
            for name, dtype in (("_ids", np.int64), ("_seqs", np.int64), ("_alive", bool)):
                arr = np.zeros(new_cap, dtype=dtype)
                arr[: self._n] = getattr(self, name)[: self._n]
                setattr(self, name, arr)
        if need > len(self._mat):
            mat = np.zeros((len(self._ids), self.dim), dtype=np.float16)
            mat[: self._n] = self._mat[: self._n]
            self._mat = mat  # the file's rows hold the same values: _file_rows still reads them right

    def _load_snapshot(self) -> None:
        """The snapshot file, if it is whole and this model's; anything else leaves the matrix empty, to be
        read from the catalog (and the check after the replay catches a whole file that disagrees)."""
        try:
            with open(self.path, "rb") as fh:
                head = fh.read(HEADER_BYTES)
                size = os.fstat(fh.fileno()).st_size
            if not head.startswith(MAGIC):
                return
            meta = json.loads(head[len(MAGIC):].decode("utf-8").strip())
            n, dim = int(meta["count"]), int(meta["dim"])
            cap = int(meta.get("capacity", n))  # rows the file holds room for (snapshots before: exactly n)
            if (meta.get("model") != self.model or n < 0 or dim < 0 or cap < n
                    or size != HEADER_BYTES + 16 * n + 2 * cap * dim):
                return
            rows = np.fromfile(self.path, dtype=np.int64, count=2 * n, offset=HEADER_BYTES)
            mat, file_rows = _mapped(self.path, HEADER_BYTES + 16 * n, cap, dim, n)
            last_seq, last_removal = int(meta["last_seq"]), int(meta["last_removal"])
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
            return
        self._reset(dim)
        self._mat, self._file_rows = mat, file_rows
        self._ids = rows[:n]  # views of the array just read: copying them cost 0.3 s at 10M rows
        self._seqs = rows[n:]
        self._alive = np.ones(n, dtype=bool)
        self._n = n
        self._count_rows(self._ids, +1)
        self._last_seq, self._last_removal = last_seq, last_removal

    def _log_gone(self, ids: np.ndarray) -> None:
        if len(ids):
            self._gone.append(ids.copy())
            self._gone_end += len(ids)
            if self._gone_end - self._gone_start > GONE_LOG_MAX:
                self._forget_gone()

    def _forget_gone(self) -> None:
        """Whoever followed the removals by the log must compare ids instead (the matrix was read again)."""
        self._gone.clear()
        self._gone_start = self._gone_end = self._gone_end + 1

    def removed_since(self, pos: int) -> np.ndarray | None:
        """Ids removed since position `pos` of the removal log (a view's `gone_pos`); None when the log no
        longer reaches back that far."""
        with self._lock:
            if pos < self._gone_start or pos > self._gone_end:
                return None
            done = self._gone_start
            parts = []
            for chunk in self._gone:
                if done + len(chunk) > pos:
                    parts.append(chunk[max(0, pos - done):])
                done += len(chunk)
            return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def view(self) -> SnapshotView:
        """The live rows now, without copying the matrix (see SnapshotView)."""
        with self._lock:
            if self._view is None or self._view.version != self._version:
                n = self._n
                self._view = SnapshotView(self._mat[:n], self._ids[:n], self._seqs[:n], self._alive[:n].copy(),
                                          self._stats, self._last_seq, self._gone_end, self._version,
                                          self._file_rows)
            return self._view

    def save_if_changed(self) -> None:
        with self._lock:
            if self._delta or not self.path.exists():
                self.save_snapshot()

    def save_snapshot(self) -> None:
        """Write live rows to one file, atomically: a crash mid-write leaves the old snapshot, and two
        processes saving at once each leave a whole file (the last one wins)."""
        with self._lock:
            keep = np.flatnonzero(self._alive[: self._n])
            n, ids, seqs = len(keep), self._ids[keep], self._seqs[keep]
            meta = {"model": self.model, "last_seq": self._last_seq, "last_removal": self._last_removal}
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(tmp, "wb") as fh:
                    cap = write_snapshot(fh, meta, ids, seqs, self._mat, keep)
                os.replace(tmp, self.path)
                mat, file_rows = _mapped(self.path, HEADER_BYTES + 16 * n, cap, self.dim, n)
            except (OSError, ValueError):  # ValueError: the file changed under the mapping (numpy's mmap check)
                tmp.unlink(missing_ok=True)
                return  # a full or read-only disk: the catalog stays the truth, the next open rebuilds
            self._mat, self._ids, self._seqs, self._file_rows = mat, ids, seqs, file_rows
            self._alive = np.ones(n, dtype=bool)
            self._n = n
            self._version += 1  # the same rows, in new arrays: views made before keep theirs
            for suffix in (".f16", ".rows", ".json"):
                Path(str(self._old_base) + suffix).unlink(missing_ok=True)
            self._delta = 0

    def live(self) -> tuple[np.ndarray, np.ndarray]:
        """(image ids, fp16 vectors) of every live row: a copy, for whole-library work such as duplicates."""
        with self._lock:
            keep = np.flatnonzero(self._alive[: self._n])
            return self._ids[keep].copy(), self._mat[keep].copy()

    def figures(self) -> tuple[int, int, int]:
        """Live rows' count, sum of ids and sum of id hashes: what the catalog's `vector_stats` must equal."""
        with self._lock:
            return self._stats

    # search --------------------------------------------------------------
    def top_k(self, query: np.ndarray, k: int, *, allow: np.ndarray | None = None,
              exclude: set[int] | frozenset[int] = frozenset()) -> list[tuple[int, float]]:
        """Best (image id, cosine) pairs, ties by id; `allow` restricts to those image ids. On CUDA the engine
        scans a copy on the card instead (device_scan.py), with the same masks and the same answer.

        torch's fp16 matvec is the fastest here, but importing torch costs seconds: a process that has
        not loaded it (`similar` on a library image needs no model) scores with numpy, in chunks.
        """
        with self._lock:
            n = self._n
            if n == 0 or k <= 0:
                return []
            if query.shape[-1] != self.dim:
                raise ValueError(f"query has {query.shape[-1]} dimensions, library vectors {self.dim}")
            scores = _scores(self._mat[:n], query)
            allowed, excluded = id_filter(allow, exclude)
            scores[~keep_rows(self._ids[:n], self._alive[:n], allowed, excluded, member)] = -np.inf
            ids, best = best_of(self._ids[:n], scores, k)
            return list(zip(ids.tolist(), best.tolist()))


def write_snapshot(fh: BinaryIO, meta: dict[str, object], ids: np.ndarray, seqs: np.ndarray,
                   matrix: np.ndarray, rows: np.ndarray) -> int:
    """The snapshot format, written to FH: the header (META with the count, dimension and capacity added),
    ids and seqs (int64), the fp16 rows ROWS of MATRIX, then the spare rows as a hole. Returns the capacity.
    Also what benchmarks/scale.py writes its big libraries with."""
    n, dim = len(rows), matrix.shape[1]
    cap = n + max(SPARE_ROWS_MIN, n // 8)
    head = MAGIC + json.dumps({**meta, "count": n, "dim": dim, "capacity": cap}).encode()
    fh.write(head.ljust(HEADER_BYTES, b" "))
    ids.astype(np.int64).tofile(fh)
    seqs.astype(np.int64).tofile(fh)
    for start in range(0, n, _WRITE_ROWS):  # a mapped matrix is read a part at a time
        np.ascontiguousarray(matrix[rows[start:start + _WRITE_ROWS]], dtype=np.float16).tofile(fh)
    fh.truncate(HEADER_BYTES + 16 * n + 2 * cap * dim)
    return cap


def _mapped(path: Path, offset: int, rows: int, dim: int, stored: int) -> tuple[np.ndarray, FileRows | None]:
    """The snapshot's matrix, mapped copy-on-write (rows written here, appends, stay in this process), and
    its first `stored` rows as the file holds them, read from the same open file."""
    if rows * dim == 0:
        return np.zeros((rows, dim), dtype=np.float16), None  # numpy cannot map zero bytes
    fh = open(path, "rb")  # noqa: SIM115 (FileRows closes it when the last view is gone)
    try:
        mat = np.memmap(fh, dtype=np.float16, mode="c", offset=offset, shape=(rows, dim))
    except BaseException:
        fh.close()
        raise
    return mat, FileRows(fh, offset, stored, dim)


def _scores(mat: np.ndarray, query: np.ndarray) -> np.ndarray:
    """fp16 matrix times the query, as float32 scores."""
    if "torch" in sys.modules:
        import torch

        return (torch.from_numpy(mat) @ torch.from_numpy(query.astype(np.float16))).float().numpy()
    q = query.astype(np.float32)
    out = np.empty(len(mat), dtype=np.float32)
    for start in range(0, len(mat), 32_768):
        out[start:start + 32_768] = mat[start:start + 32_768].astype(np.float32) @ q
    return out


def as_blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)
