"""Near-duplicate groups from the approximate index's lists: neighbourhoods, not an n x n product.

Why: all pairs of 10M vectors is 10^14 products; near-duplicates (cosine >= 0.95) are each other's
nearest neighbours, so they sit in the same coarse list or in lists both border. Each vector is compared,
as exact fp16 products (the same float32 scores a search returns), with the members of its own list and
of the `reach - 1` next lists nearest to it. A pair whose two vectors sit in different lists is found
when one of them borders the other's list; at 1M, comparing with the lists nearest to a list's centroid
instead missed 4 of 1000 planted bursts, as a vector far from its centroid borders lists that centroid
does not (docs/scale.md). A vector skips one of those lists when no duplicate can sit there: when its own
list's centroid outscores that list's by more than the distance between two vectors at the threshold times
the distance between the two centroids (a bound, not a guess: a fixed margin of 0.032 fitted at 1M lost a
planted pair at 3M whose list needed 0.07). Only exact scores decide, so nothing below the threshold is
ever paired, and a burst of any size stays whole (every pair inside the compared lists is seen).

    pairs, scores = knn_pairs(index, source, 0.95)   # (m, 2) ids, smaller first; exact cosines
    groups = knn_groups(index, source, 0.95)         # connected components of those pairs, ids sorted
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np

from clipgit.core.errors import Cancelled
from clipgit.core.store.ann import AnnIndex
from clipgit.core.store.vector_source import Floats, Ids, VectorSource

_BATCH = 32_768  # vectors whose nearest lists are found at a time (64 MB of float32 at 512-d)


def knn_pairs(index: AnnIndex, source: VectorSource, threshold: float = 0.95, *, reach: int = 3,
              cancel: threading.Event | None = None,
              progress: Callable[[int, int], None] | None = None) -> tuple[Ids, Floats]:
    """Every pair with exact cosine >= threshold between a vector and the members of its `reach` nearest
    lists: (ids (m, 2), smaller id first; scores)."""
    members = [_live(index, source, list_no) for list_no in range(index.nlist)]
    total = sum(len(m[0]) for m in members)
    # who else visits each list: a vector whose 2nd..reach-th nearest list it is (found in batches)
    guests_id, guests_row, guests_list = [], [], []
    own = np.repeat(np.arange(index.nlist), [len(m[0]) for m in members])
    all_ids = np.concatenate([m[0] for m in members])
    all_rows = np.concatenate([m[1] for m in members])
    apart = math.sqrt(2 * max(0.0, 1 - threshold))  # the farthest two vectors at the threshold lie apart
    for start in range(0, total if reach > 1 else 0, _BATCH):
        _check(cancel)
        part = slice(start, start + _BATCH)
        x = source.vectors(all_rows[part])
        near = index.top_lists(x, reach)
        scores = index.list_scores(x, np.concatenate([own[part, None], near], axis=1))
        # a duplicate b of x in list M (b nearer M's centroid than x's own list A's) needs
        # x.cA - x.cM = (x - b).(cA - cM) + b.(cA - cM) <= |x - b| |cA - cM|: past that, M holds none
        far = scores[:, :1] - scores[:, 1:] > apart * index.list_gaps(own[part, None], near)
        near = np.where((near == own[part, None]) | far, -1, near)  # its own list is compared anyway
        for col in range(near.shape[1]):
            away = near[:, col] >= 0
            guests_id.append(all_ids[part][away])
            guests_row.append(all_rows[part][away])
            guests_list.append(near[away, col])
    empty = np.zeros(0, dtype=np.int64)
    g_id = np.concatenate(guests_id) if guests_id else empty
    g_row = np.concatenate(guests_row) if guests_row else empty
    g_list = np.concatenate(guests_list) if guests_list else empty
    order = np.argsort(g_list, kind="stable")
    g_id, g_row, g_list = g_id[order], g_row[order], g_list[order]
    starts = np.searchsorted(g_list, np.arange(index.nlist + 1))
    found_a: list[Ids] = []
    found_b: list[Ids] = []
    found_s: list[Floats] = []
    done = 0
    for list_no, (ids, rows) in enumerate(members):
        _check(cancel)
        if len(ids):
            visitors = slice(starts[list_no], starts[list_no + 1])
            q_ids = np.concatenate([ids, g_id[visitors]])
            own_x = source.vectors(rows)
            sims = np.concatenate([own_x, source.vectors(g_row[visitors])]) @ own_x.T
            i, j = np.nonzero(sims >= threshold)
            keep = q_ids[i] != ids[j]
            found_a.append(q_ids[i[keep]])
            found_b.append(ids[j[keep]])
            found_s.append(sims[i[keep], j[keep]])
        done += len(ids)
        if progress is not None:
            progress(done, total)
    if not found_a:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.float32)
    first, second = np.concatenate(found_a), np.concatenate(found_b)
    pairs = np.stack([np.minimum(first, second), np.maximum(first, second)], axis=1)
    if len(pairs) == 0:
        return pairs, np.zeros(0, dtype=np.float32)
    pairs, at = np.unique(pairs, axis=0, return_index=True)
    return pairs, np.concatenate(found_s)[at].astype(np.float32)


def knn_groups(index: AnnIndex, source: VectorSource, threshold: float = 0.95, *, reach: int = 3,
               cancel: threading.Event | None = None,
               progress: Callable[[int, int], None] | None = None) -> list[list[int]]:
    """Connected components of the near-duplicate pairs, each sorted, in order of their first id."""
    pairs, _ = knn_pairs(index, source, threshold, reach=reach, cancel=cancel, progress=progress)
    return components(pairs)


def components(pairs: Ids) -> list[list[int]]:
    """Connected components of an edge list (union-find with path halving), each sorted, by first id."""
    if len(pairs) == 0:
        return []
    nodes, flat = np.unique(pairs, return_inverse=True)
    parent = list(range(len(nodes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in flat.reshape(-1, 2).tolist():
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for i, node in enumerate(nodes.tolist()):
        groups.setdefault(root(i), []).append(node)
    return sorted(groups.values(), key=lambda g: g[0])


def _live(index: AnnIndex, source: VectorSource, list_no: int) -> tuple[Ids, Ids]:
    """A list's ids that still have a row in the snapshot, and those rows."""
    ids = index.list_members(list_no)
    rows = source.rows(ids)
    keep = rows >= 0
    return ids[keep], rows[keep]


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("looking for near-duplicates was cancelled")
