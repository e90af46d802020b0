"""The coarse lists: unit centroids by spherical k-means, and assigning vectors to them, in two levels.

Why two levels: a flat k-means of 16384 centroids over 400k points, and assigning 10M vectors to the
nearest of 16384 centroids, each cost about 10^14 operations, hours on 2 cores. Grouping the centroids
first (sqrt(nlist) groups, each split in proportion to its share of the points) and assigning a vector
among the centroids of its `width` nearest groups costs about 15 times less, in plain matrix products.
An HNSW over the centroids was tried for assignment and put 3% of vectors in a list other than their
nearest (efSearch 32), which cost recall, since probing ranks lists by the exact centroid product; the
groups put 99.88% where a flat search would (docs/scale.md). Unit centroids make inner-product and L2
assignment agree, so lists are ranked by the same inner product the search maximises.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import faiss
import numpy as np

from clipgit.core.errors import Cancelled
from clipgit.core.store.vector_source import Floats, Ids

FLAT_MAX = 1024  # up to this many lists, one level: assign against every centroid
_ROWS = 8_192  # vectors assigned at a time
_TOP_ROWS = 32_768  # vectors sorted into groups at a time: each group's product then has ~width/groups of them


@dataclass
class Coarse:
    """Centroids (nlist, dim), each centroid's group, and the groups' own unit centroids."""

    centroids: Floats
    group_of: Ids
    groups: Floats

    @classmethod
    def regroup(cls, centroids: Floats, seed: int = 0) -> Coarse:
        """Groups for centroids read back from a file (adds after a load assign through them too)."""
        nlist = len(centroids)
        if nlist <= FLAT_MAX:
            return cls(centroids, np.zeros(nlist, dtype=np.int64), _unit(centroids.mean(axis=0, keepdims=True)))
        top = round(math.sqrt(nlist))
        groups = kmeans(centroids, top, seed)
        group_of = _nearest(centroids, groups)
        # k-means groups of centroids are lopsided (1 to 469 of 4096 at 1M, measured), and vectors crowd
        # into the big ones: a vector's 8 nearest groups then held about 2000 centroids, not 8 x 64. Split
        # every group past twice the mean in its own k-means, so assigning costs what the sizes promise.
        limit = 2 * nlist // top
        parts = [groups[g:g + 1] for g in range(top)]
        for g in np.flatnonzero(np.bincount(group_of, minlength=top) > limit):
            inside = centroids[group_of == g]
            parts[g] = kmeans(inside, math.ceil(len(inside) / (nlist // top)), seed + 1 + int(g))
        groups = np.ascontiguousarray(np.vstack(parts))
        return cls(centroids, _nearest(centroids, groups), groups)

    def assign(self, x: Floats, width: int = 8) -> Ids:
        """The list of each vector: its nearest centroid among those of its `width` nearest groups."""
        return self.top(x, 1, width)[:, 0]

    def top(self, x: Floats, count: int, width: int = 8) -> Ids:
        """Each vector's `count` nearest lists, nearest first, among the centroids of its `width` nearest
        groups (all centroids when there are no more groups than that)."""
        count = min(count, len(self.centroids))
        out = np.empty((len(x), count), dtype=np.int64)
        if len(self.groups) <= width:
            for start in range(0, len(x), _ROWS):
                out[start:start + _ROWS] = _best(x[start:start + _ROWS] @ self.centroids.T, count)
            return out
        members = [np.flatnonzero(self.group_of == g) for g in range(len(self.groups))]
        blocks = [np.ascontiguousarray(self.centroids[m].T) for m in members]
        for start in range(0, len(x), _TOP_ROWS):
            part = x[start:start + _TOP_ROWS]
            near = _best(part @ self.groups.T, width).ravel()
            # group by group: the vectors that have it among their nearest, in one product each (a vector
            # visits a group once), keeping each vector's best `count` so far
            order = np.argsort(near, kind="stable")
            who = (np.arange(len(near)) // width)[order]
            bounds = np.searchsorted(near[order], np.arange(len(self.groups) + 1))
            sims = np.full((len(part), count), -np.inf, dtype=np.float32)
            lists = np.zeros((len(part), count), dtype=np.int64)
            for g in range(len(self.groups)):
                rows = who[bounds[g]:bounds[g + 1]]
                if len(rows) == 0 or len(members[g]) == 0:
                    continue
                block = part[rows] @ blocks[g]
                best = _best(block, min(count, block.shape[1]))
                both_s = np.concatenate([sims[rows], np.take_along_axis(block, best, axis=1)], axis=1)
                both_l = np.concatenate([lists[rows], members[g][best]], axis=1)
                keep = _best(both_s, count)
                sims[rows] = np.take_along_axis(both_s, keep, axis=1)
                lists[rows] = np.take_along_axis(both_l, keep, axis=1)
            out[start:start + _TOP_ROWS] = lists
        return out


def cluster(train: Floats, nlist: int, seed: int, cancel: threading.Event | None) -> Coarse:
    """Centroids for nlist lists: one k-means up to FLAT_MAX lists, else sqrt(nlist) groups, each split
    in proportion to its share of the training points. Assignment then groups the centroids themselves
    (the training groups put 0.6% of vectors in a list other than their nearest, these, split where lopsided,
    0.12% at 1M and 3M)."""
    if nlist <= FLAT_MAX or len(train) < 4 * nlist:
        return Coarse.regroup(kmeans(train, nlist, seed), seed)
    top = max(2, round(math.sqrt(nlist)))
    groups = kmeans(train, top, seed)
    assign = _nearest(train, groups)
    sizes = np.bincount(assign, minlength=top)
    share = np.maximum(1, np.floor(sizes / sizes.sum() * nlist)).astype(np.int64)
    share = np.minimum(share, np.maximum(sizes, 1))
    while share.sum() < nlist:  # hand out what flooring left, to the groups with most points per list
        share[int(np.argmax(np.where(share < sizes, sizes / share, -1.0)))] += 1
    while share.sum() > nlist:
        share[int(np.argmax(share))] -= 1
    parts = []
    for g in range(top):
        if cancel is not None and cancel.is_set():
            raise Cancelled("building the approximate index was cancelled")
        members = train[assign == g]
        if len(members):
            parts.append(kmeans(members, int(share[g]), seed + g + 1))
    centroids = np.vstack(parts)
    if len(centroids) < nlist:  # empty groups: fill with training points
        extra = train[np.random.default_rng(seed).choice(len(train), nlist - len(centroids), replace=False)]
        centroids = np.vstack([centroids, _unit(extra)])
    return Coarse.regroup(np.ascontiguousarray(centroids[:nlist]), seed)


def kmeans(points: Floats, k: int, seed: int) -> Floats:
    """k unit centroids by spherical k-means (10 iterations: more barely moves recall, measured)."""
    if k >= len(points):
        out = points[:k].copy()
    elif k == 1:
        out = points.mean(axis=0, keepdims=True)
    else:
        km = faiss.Kmeans(points.shape[1], k, niter=10, spherical=True, seed=seed, max_points_per_centroid=256,
                          min_points_per_centroid=1)  # a small sample is fine; faiss would print a warning
        km.train(np.ascontiguousarray(points, dtype=np.float32))
        assert km.centroids is not None
        out = km.centroids
    return _unit(out)


def _best(sims: Floats, count: int) -> Ids:
    """Column numbers of each row's `count` largest values, largest first. A few: argmax after argmax
    (numpy's argpartition along rows was 6 times slower for 3 of 64 columns, measured)."""
    if count == 1:
        return np.asarray(sims.argmax(axis=1)[:, None], dtype=np.int64)
    if count <= 8:
        work = sims.copy()
        out = np.empty((len(sims), count), dtype=np.int64)
        rows = np.arange(len(sims))
        for col in range(count):
            out[:, col] = work.argmax(axis=1)
            work[rows, out[:, col]] = -np.inf
        return out
    part = np.argpartition(-sims, count - 1, axis=1)[:, :count]
    order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


def _nearest(x: Floats, centroids: Floats) -> Ids:
    out = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), _ROWS):
        out[start:start + _ROWS] = (x[start:start + _ROWS] @ centroids.T).argmax(axis=1)
    return out


def _unit(x: Floats) -> Floats:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.where(norms > 0, norms, 1), dtype=np.float32)
