"""The stored fp16 vectors as the approximate index sees them: where each id's row is, and exact scores.

Why apart from the index: the index only proposes candidates; every score it returns is computed here,
from the same fp16 rows an exact scan reads, so an approximate answer never carries an approximate
number. The matrix may be an `np.memmap` of the vector snapshot: only the rows asked for are read.

Score = dot(query / |query|, row as float32), accumulated in float32: the cosine, since stored vectors
are unit length (to fp16 precision).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

Ids = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float32]
_CHUNK = 16_384  # rows gathered and scored at a time: 32 MB of float32 at 512-d
PREAD_MAX = 4_096  # re-ranks of at most this many rows read them with pread instead of through the mapping


def sorted_unique(values: Ids) -> Ids:
    """Sorted, without repeats. numpy 2's np.unique hashes: 160 ms for 500k ids here, a sort 6 ms."""
    values = np.asarray(values, dtype=np.int64).reshape(-1)
    if len(values) < 2 or bool(np.all(values[1:] > values[:-1])):
        return values
    values = np.sort(values)
    keep: npt.NDArray[np.bool_] = np.concatenate([[True], values[1:] != values[:-1]])
    return values[keep]


def member(values: Ids, sorted_set: Ids) -> npt.NDArray[np.bool_]:
    """Which values are in a sorted, repeat-free array (a binary search each)."""
    if len(sorted_set) == 0:
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return np.asarray(sorted_set[at] == values)


class FileRows:
    """The first `count` rows of a matrix as its file holds them, read with pread.

    Why not through the mapping: re-ranking touches ~100 scattered rows a query, and the kernel maps the
    page cache around each in large pieces (up to 2 MB), so at 10M vectors a process answering queries
    held 7-10 GB of the 10 GB vector file as resident pages after a few hundred of them, for 100 KB of
    rows read. pread copies just the rows. The file object is the one the matrix was mapped from (the
    same inode even after a newer snapshot is renamed over the path); it closes when no view holds it.
    """

    def __init__(self, fh: BinaryIO, offset: int, count: int, dim: int) -> None:
        self.fd, self.offset, self.count, self.row_bytes = fh.fileno(), offset, count, 2 * dim
        self._dim = dim
        weakref.finalize(self, fh.close)
        self._fh = fh  # kept open as long as this object lives

    def read(self, rows: Ids) -> npt.NDArray[np.float16]:
        """These rows (each below `count`), in the order given."""
        size, at = self.row_bytes, self.offset
        raw = b"".join(os.pread(self.fd, size, at + int(r) * size) for r in rows)
        if len(raw) != size * len(rows):
            raise OSError(f"the vector file ended before row {int(max(rows))}")
        return np.frombuffer(raw, dtype=np.float16).reshape(len(rows), self._dim)
def id_filter(allow: npt.ArrayLike | None, exclude: Iterable[int]) -> tuple[Ids | None, Ids | None]:
    """A query's allowed and excluded ids as `keep_rows` takes them: sorted, without repeats (None: no
    restriction, no exclusion)."""
    allowed = None if allow is None else sorted_unique(np.asarray(allow, dtype=np.int64))
    excluded = sorted_unique(np.fromiter(exclude, dtype=np.int64))
    return allowed, excluded if len(excluded) else None


def keep_rows(ids: Any, alive: Any, allow: Any | None, exclude: Any | None, member: Callable[[Any, Any], Any]) -> Any:
    """Which rows a query may return: live, among `allow`, not in `exclude` (both as `id_filter` gives them).

    Written once for numpy arrays (the exact scan on the CPU, with `member` above) and torch tensors (the
    scan on the card, device_scan.py, with its torch twin of `member`): the two must agree row for row.
    """
    keep = alive
    if allow is not None:
        keep = keep & member(ids, allow)
    if exclude is not None:
        keep = keep & ~member(ids, exclude)
    return keep


def best_of(ids: Ids, scores: npt.NDArray[np.floating[Any]], k: int) -> tuple[Ids, Floats]:
    """The k best (ids, scores), best first, ties by id; rows scored -inf (masked out) never come back.

    Why ties by id: the exact scan, its chunked twin on the card and the approximate index meet rows in
    different orders, and equal scores are common (fp16 scores; copies of one picture): each gives the
    same answer. Every row tied with the k-th stays until the sort, so which of them make the cut is
    decided by id too.
    """
    scores = np.asarray(scores, dtype=np.float32)
    if k <= 0 or len(ids) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    floor = -np.inf
    if len(scores) > k:
        floor = scores[np.argpartition(-scores, k - 1)[k - 1]]
    keep = np.flatnonzero(scores >= floor) if floor > -np.inf else np.flatnonzero(scores > -np.inf)
    ids, scores = ids[keep], scores[keep]
    order = np.lexsort((ids, -scores))[:k]
    return ids[order], scores[order]


class VectorSource:
    """Row r of `matrix` holds the vector of image `row_ids[r]`; rows with `alive[r]` False are ignored.

    The lookup from id to row is built once (no copy when `row_ids` is strictly increasing, as an
    append-only snapshot's ids are); build a new source when the snapshot changes.
    """

    def __init__(self, matrix: npt.NDArray[np.float16] | npt.NDArray[np.float32], row_ids: Ids,
                 alive: npt.NDArray[np.bool_] | None = None, file_rows: FileRows | None = None) -> None:
        if matrix.ndim != 2 or len(row_ids) != matrix.shape[0]:
            raise ValueError(f"matrix {matrix.shape} and {len(row_ids)} row ids do not match")
        if alive is not None and len(alive) != len(row_ids):
            raise ValueError(f"{len(alive)} alive flags for {len(row_ids)} rows")
        self.matrix = matrix
        self.file_rows = file_rows  # rows the matrix's file holds as they are: re-ranks read those with pread
        self.row_ids = np.asarray(row_ids, dtype=np.int64)
        self.alive = None if alive is None else np.asarray(alive, dtype=bool)
        if len(self.row_ids) < 2 or bool(np.all(self.row_ids[1:] > self.row_ids[:-1])):
            self._order: Ids | None = None
            self._sorted = self.row_ids
        else:
            live = self.live_rows()
            self._order = live[np.argsort(self.row_ids[live], kind="stable")]
            self._sorted = self.row_ids[self._order]

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def live_rows(self) -> Ids:
        if self.alive is None:
            return np.arange(len(self.row_ids), dtype=np.int64)
        return np.flatnonzero(self.alive).astype(np.int64)

    def live_count(self) -> int:
        return len(self.row_ids) if self.alive is None else int(np.count_nonzero(self.alive))

    def rows(self, ids: Ids) -> Ids:
        """The row of each id, -1 where the id has no live row."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(self._sorted) == 0:
            return np.full(ids.shape, -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._sorted, ids), len(self._sorted) - 1)
        found = self._sorted[at] == ids
        rows = at if self._order is None else self._order[at]
        out = np.where(found, rows, -1).astype(np.int64)
        if self.alive is not None and self._order is None:
            out[found] = np.where(self.alive[out[found]], out[found], -1)
        return out

    def vectors(self, rows: Ids) -> Floats:
        """Rows as float32 (read in row order: a memmap then reads forward)."""
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        out[order] = self.matrix[rows[order]]
        return out

    def scores(self, query: Floats, rows: Ids) -> Floats:
        """Exact scores of the given rows against a unit float32 query."""
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        out = np.empty(len(rows), dtype=np.float32)
        file = self.file_rows
        if file is not None and 0 < len(rows) <= PREAD_MAX:
            ordered = rows[order]
            stored = ordered < file.count
            block = np.empty((len(rows), self.dim), dtype=np.float32)
            block[stored] = file.read(ordered[stored])
            block[~stored] = self.matrix[ordered[~stored]]
            out[order] = block @ query
            return out
        for start in range(0, len(rows), _CHUNK):
            part = order[start:start + _CHUNK]
            block = np.asarray(self.matrix[rows[part]], dtype=np.float32)
            out[part] = block @ query
        return out

    def best(self, query: Floats, rows: Ids, k: int) -> tuple[Ids, Floats]:
        """The k best of the given rows by exact score, as (ids, scores), best first, ties by id."""
        rows = sorted_unique(rows)
        rows = rows[rows >= 0]
        if k <= 0 or len(rows) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return best_of(self.row_ids[rows], self.scores(query, rows), k)

    def scan(self, query: Floats, k: int, exclude: Ids | None = None) -> tuple[Ids, Floats]:
        """The exact best k of every live row (the slow, sure answer a failed approximate search falls back to)."""
        best_ids = np.zeros(0, dtype=np.int64)
        best_scores = np.zeros(0, dtype=np.float32)
        excluded = None if exclude is None or not len(exclude) else sorted_unique(exclude)
        step = _CHUNK * 8
        for start in range(0, len(self.row_ids), step):
            block = np.asarray(self.matrix[start:start + step], dtype=np.float32) @ query
            ids = self.row_ids[start:start + step]
            alive = np.ones(len(ids), dtype=bool) if self.alive is None else self.alive[start:start + step]
            block[~keep_rows(ids, alive, None, excluded, member)] = -np.inf
            ids, block = best_of(ids, block, k)
            best_ids = np.concatenate([best_ids, ids])
            best_scores = np.concatenate([best_scores, block])
        return best_of(best_ids, best_scores, k)
