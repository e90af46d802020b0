"""Near-duplicates: burst shots, resized or re-encoded copies, light edits, and exact copies.

Why CLIP vectors: the library already holds one per image, and copies that
differ in size, compression or a light edit stay near each other, where a
pixel hash would need another decode of every file. Exact copies are found by
content fingerprint. The all-pairs comparison runs as blocks of one matrix
product (BLAS), so 100,000 vectors take seconds, never a Python loop over pairs.
clipgit never deletes a file: it finds groups; the person decides.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from clipgit.core.decode.photo_facts import iso_time
from clipgit.core.errors import Cancelled, QueryError
from clipgit.core.search.filters import Filters
from clipgit.core.store.catalog import Catalog

BLOCK = 512  # rows compared at once: BLOCK x N float32 scores (200 MB at N = 100,000)
# Past the crossover the pairs come from the approximate index's neighbourhoods (store/knn_dupes.py):
# given the threshold and the cancel event, (id pairs (m, 2), their exact cosines) over the whole library.
NearPairs = Callable[[float, "threading.Event | None"], "tuple[np.ndarray, np.ndarray]"]


@dataclass(frozen=True)
class DupeFile:
    path: str
    size: int
    width: int | None
    height: int | None
    taken: float | None
    taken_offset: int | None = None  # as SearchResult's
    taken_from: str | None = None


@dataclass(frozen=True)
class DupeGroup:
    files: list[DupeFile]  # largest first (pixels, then bytes)
    exact: bool  # every file has the same content
    similarity: float  # the lowest cosine between files the group joined (1.0 for exact copies)

    def as_dict(self) -> dict[str, object]:
        return {"exact": self.exact, "similarity": round(self.similarity, 4),
                "files": [{"path": f.path, "size": f.size, "width": f.width, "height": f.height,
                           "taken": iso_time(f.taken, f.taken_offset, f.taken_from)} for f in self.files]}


def similar_pairs(vectors: np.ndarray, threshold: float,
                  cancel: threading.Event | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row pairs (i < j) whose cosine is at least `threshold`, and the cosines: unit vectors in, blockwise.

    Each block's scores land in one buffer allocated once (fresh 200 MB arrays cost page faults every
    block), and a block with no pair over the threshold is passed over after one quick scan.
    """
    mat = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(mat)
    scores_buf = np.empty(min(BLOCK, n) * n, dtype=np.float32)
    hits_buf = np.empty(min(BLOCK, n) * n, dtype=bool)
    firsts, seconds, scores = [], [], []
    for start in range(0, n, BLOCK):
        if cancel is not None and cancel.is_set():
            raise Cancelled("duplicates search stopped")
        rows_here, width = min(BLOCK, n - start), n - start
        block = scores_buf[: rows_here * width].reshape(rows_here, width)
        np.matmul(mat[start:start + rows_here], mat[start:].T, out=block)  # pairs at or right of the diagonal
        block[:, :rows_here][np.tril_indices(rows_here)] = -2.0  # a row with itself, and pairs counted twice
        hits = hits_buf[: rows_here * width].reshape(rows_here, width)
        np.greater_equal(block, threshold, out=hits)
        if not hits.any():
            continue
        rows, cols = np.nonzero(hits)
        firsts.append(rows + start)
        seconds.append(cols + start)
        scores.append(block[rows, cols].copy())
    if not firsts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return np.concatenate(firsts), np.concatenate(seconds), np.concatenate(scores)


def groups_of(n: int, pairs: list[tuple[int, int]]) -> list[list[int]]:
    """Connected components (two or more members) of the pair graph over n rows: union-find."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[int, list[int]] = defaultdict(list)
    for i in {x for pair in pairs for x in pair}:
        members[root(i)].append(i)
    return [sorted(m) for m in members.values() if len(m) > 1]


def find_duplicates(catalog: Catalog, model: str, ids: np.ndarray, vectors: np.ndarray | None, *,
                    threshold: float = 0.95, folder: str | None = None,
                    cancel: threading.Event | None = None, near: NearPairs | None = None) -> list[DupeGroup]:
    """Groups of near-identical images among the library's (ids, vectors of `model`), optionally under `folder`;
    pairs by comparing every vector with every other, or from `near` (then `vectors` may be None)."""
    if not 0.0 < threshold <= 1.0:
        raise QueryError(f"the threshold is a cosine between 0 and 1, not {threshold}")
    if folder is not None:
        keep = np.isin(ids, np.asarray(catalog.filtered_ids(Filters().within(folder), model), dtype=np.int64))
        ids, vectors = ids[keep], None if vectors is None else vectors[keep]
    rows = catalog.images_by_ids(int(i) for i in ids)
    by_content: dict[bytes, list[int]] = defaultdict(list)
    for index, image_id in enumerate(ids):
        row = rows.get(int(image_id))
        if row is not None and row.fingerprint is not None:
            by_content[row.fingerprint].append(index)
    pairs: list[tuple[int, int]] = [(m[0], other) for m in by_content.values() for other in m[1:]]
    if near is not None:
        first, second, scores = _positions(ids, *near(threshold, cancel))
    else:
        assert vectors is not None
        first, second, scores = similar_pairs(vectors, threshold, cancel)
    lowest: dict[tuple[int, int], float] = {}
    for a, b, score in zip(first.tolist(), second.tolist(), scores.tolist()):
        pairs.append((a, b))
        lowest[(a, b)] = score
    out = []
    for members in groups_of(len(ids), pairs):
        files = [rows[int(ids[i])] for i in members if int(ids[i]) in rows]
        exact = len({f.fingerprint for f in files}) == 1
        joined = [s for (a, b), s in lowest.items() if a in members and b in members]
        files.sort(key=lambda r: (-((r.width or 0) * (r.height or 0)), -r.size, r.path))
        kept = [DupeFile(f.path, f.size, f.width, f.height, f.taken, f.taken_offset, f.taken_from) for f in files]
        out.append(DupeGroup(kept, exact, 1.0 if exact or not joined else min(joined)))
    out.sort(key=lambda g: (-len(g.files), -g.files[0].size, g.files[0].path))
    return out


def _positions(ids: np.ndarray, pairs: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Id pairs as positions in `ids` (pairs with an id outside them, such as outside --in, are dropped)."""
    order = np.argsort(ids, kind="stable")
    at = np.clip(np.searchsorted(ids[order], pairs), 0, max(len(ids) - 1, 0))
    if len(ids) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    keep = (ids[order][at] == pairs).all(axis=1)
    rows = order[at[keep]]
    return rows[:, 0], rows[:, 1], scores[keep]


def write_list(paths: list[str], target: str) -> str:
    """Write the paths, one a line, to `target` (a new or existing file); returns its absolute path."""
    full = os.path.abspath(os.path.expanduser(target))
    if os.path.isdir(full):
        raise QueryError(f"{target} is a folder: name a file to write the list to")
    try:
        with open(full, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.writelines(p + "\n" for p in paths)
    except OSError as exc:
        raise QueryError(f"cannot write {target}: {exc.strerror or exc}") from None
    return full


def move_files(paths: list[str], folder: str) -> list[tuple[str, str]]:
    """Move the files into `folder` (made if missing), never over another file: a name already there gets
    " (2)", " (3)" ... Returns (from, to) for each file moved; a file that cannot move raises, after the
    ones before it moved."""
    import shutil

    target = os.path.abspath(os.path.expanduser(folder))
    try:
        os.makedirs(target, exist_ok=True)
    except OSError as exc:
        raise QueryError(f"cannot make folder {folder}: {exc.strerror or exc}") from None
    moved: list[tuple[str, str]] = []
    for path in paths:
        stem, ext = os.path.splitext(os.path.basename(path))
        dest, n = os.path.join(target, stem + ext), 2
        while os.path.exists(dest):
            dest, n = os.path.join(target, f"{stem} ({n}){ext}"), n + 1
        try:
            shutil.move(path, dest)
        except OSError as exc:
            raise QueryError(f"cannot move {path}: {exc.strerror or exc} ({len(moved)} moved before it)") from None
        moved.append((path, dest))
    return moved
