"""An approximate index over one model's unit vectors, for libraries past the exact-scan crossover.

Why this shape (measured in docs/scale.md, 2 cores, 24 GB): faiss IVF with 4-bit scalar codes (256 bytes
a 512-d vector: 2.6 GB for 10M, where the fp16 matrix is 10 GB and stays on disk) proposes candidates,
and every candidate is re-scored exactly from the stored fp16 rows, so each score returned is the real
cosine and only recall is approximate. Lists are ranked by an exact product with the centroids, and
each query probes as many as sit near its best one (`AnnSettings`), so text queries, which sit in another
cone than image vectors (CLIP's modality gap) and about equally far from many lists, probe more. 4-bit
codes rank text queries well enough that a pool of 100 candidates suffices; product quantisation, 25
times faster to scan, did not (recall 0.82 on text queries with 300 candidates).

API (the owner is the engine; nothing here prints, exits or imports torch):

    source = VectorSource(matrix, row_ids, alive)        # the fp16 snapshot, maybe an np.memmap
    index = AnnIndex.build(source, model=m, state={"count": n, "ids_sum": ...}, cancel=ev, progress=cb)
    index.search(query, k, source, allow=None | ids, exclude=None | ids) -> Hits: best first, exact scores
    index.add(vectors, ids); index.remove(ids) -> int; index.drift  # rebuild in the background past ~0.2
    index.state = {...}; index.save(index_path(data_dir, m))        # atomic (ann_file.py)
    AnnIndex.load(path, model=m, verify=True) -> AnnIndex, or raises IndexMissing / IndexDamaged: rebuild
    index.verify(cancel)   # after load(verify=False): the checksum pass, IndexDamaged when it fails
    choose_kind(n, dim, Machine.here()) -> "exact" | "ann"

`state` is opaque here: the catalog state the index was built from (count and a checksum of ids), saved
in the header so the owner can compare it with the catalog on load and rebuild when they disagree.

Filters: a selective `allow` (at most `subset_scan_max` ids) is answered by an exact scan of just those
rows; a broad one searches the index through a faiss ID selector, probing 1/selectivity times as many
lists, so about as many allowed vectors are scanned as an unfiltered search scans. Whenever fewer than k
candidates survive (the filter, removals, rows missing from the snapshot), the answer falls back to an
exact scan of the allowed rows (or of all rows), so a short answer is never returned when a full one
exists.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np
import numpy.typing as npt

from clipgit.core.errors import Cancelled, ClipgitError
from clipgit.core.store.ann_file import (
    IndexDamaged,
    IndexMissing,
    index_path,
    open_mapped,
    verify_payload,
    write_atomic,
)
from clipgit.core.store.ann_kind import Machine, choose_kind
from clipgit.core.store.ann_lists import encode_into, is_mapped, owned, read_mapped, sizes_add_up, threads_for
from clipgit.core.store.ann_lists import selector as make_selector
from clipgit.core.store.ann_settings import AnnSettings, probe_delta_for
from clipgit.core.store.ann_train import Coarse, cluster
from clipgit.core.store.vector_source import Floats, Ids, VectorSource, member, sorted_unique

__all__ = ["AnnIndex", "AnnSettings", "Hits", "IndexDamaged", "IndexMissing", "Machine", "VectorSource",
           "choose_kind", "index_path"]

KIND = "faiss-ivf-sq4"
IdsLike = npt.ArrayLike | AbstractSet[int]  # int64 image ids: an array, a list or a set
_ADD_CHUNK = 65_536  # vectors converted to float32 at a time while building: 128 MB at 512-d


@dataclass(frozen=True)
class Hits:
    """Best first. `route` says how the answer was found: "ann" (the index, re-ranked exactly),
    "subset" (an exact scan of a selective allow-list) or "exact" (fallback scan of every row)."""

    ids: Ids
    scores: Floats
    route: Literal["ann", "subset", "exact"]
    probed: int = 0  # coarse lists scanned (for "ann")


class AnnIndex:
    """One model's approximate index. Searches may run on several threads; changes take a lock."""

    def __init__(self, index: faiss.IndexIVFScalarQuantizer, *, model: str, settings: AnnSettings,
                 state: Mapping[str, Any], built_count: int, added: int = 0, removed: int = 0,
                 coarse: Coarse | None = None, payload: tuple[Path, dict[str, Any]] | None = None) -> None:
        self._index = index
        self._payload = payload  # the mapped file and its header, while the lists are mapped from it
        self.model = model
        self.settings = settings
        self.state: dict[str, Any] = dict(state)
        self.built_count = built_count
        self.added = added
        self.removed = removed
        self.nprobe = settings.nprobe
        self.probe_delta = settings.probe_delta
        self.probe_max = settings.probe_max
        self.candidates = settings.candidates
        self._lock = threading.RLock()
        quantizer = faiss.downcast_index(index.quantizer)
        self._centroids: Floats = np.ascontiguousarray(quantizer.reconstruct_n(0, index.nlist), dtype=np.float32)
        self._coarse = coarse  # made on the first add after a load (grouping the centroids takes a second)

    # facts ---------------------------------------------------------------
    @property
    def dim(self) -> int:
        return int(self._index.d)

    @property
    def count(self) -> int:
        return int(self._index.ntotal)

    @property
    def nlist(self) -> int:
        return int(self._index.nlist)

    @property
    def mapped(self) -> bool:
        """Whether the lists are still mapped from the file (the first change copies them into memory)."""
        return self._payload is not None

    @property
    def drift(self) -> float:
        """Vectors added or removed since the build, as a fraction of the build's count."""
        return (self.added + self.removed) / max(self.built_count, 1)

    def memory_bytes(self) -> int:
        """The codes and ids held in memory (what the index adds to the process's resident size)."""
        return self.count * (int(self._index.code_size) + 8) + self._centroids.nbytes * 2

    # building ------------------------------------------------------------
    @classmethod
    def build(cls, source: VectorSource, *, model: str, state: Mapping[str, Any],
              settings: AnnSettings | None = None, cancel: threading.Event | None = None,
              progress: Callable[[int, int], None] | None = None) -> AnnIndex:
        """Train on a sample, then add every live row in chunks (never a float32 copy of the matrix)."""
        rows = source.live_rows()
        n = len(rows)
        if n == 0:
            raise ClipgitError("an approximate index needs at least one vector")
        settings = settings or AnnSettings.for_size(n)
        rng = np.random.default_rng(settings.seed)
        sample = np.sort(rng.choice(rows, size=min(n, settings.train_points), replace=False))
        train = source.vectors(sample)
        nlist = max(1, min(settings.nlist, len(train)))
        coarse = cluster(train, nlist, settings.seed, cancel)
        quantizer = faiss.IndexFlatIP(source.dim)  # holds the centroids; never searched (see _probe)
        quantizer.add(coarse.centroids)
        index = faiss.IndexIVFScalarQuantizer(quantizer, source.dim, nlist, faiss.ScalarQuantizer.QT_4bit,
                                              faiss.METRIC_INNER_PRODUCT, True)
        quantizer.this.disown()  # type: ignore[attr-defined]  # the index frees it (not in faiss's stubs)
        index.own_fields = True
        encoder = train[:100_000]
        encode_into(index, encoder, None, coarse.assign(encoder), train_only=True)
        del train, encoder
        for start in range(0, n, _ADD_CHUNK):
            if cancel is not None and cancel.is_set():
                raise Cancelled("building the approximate index was cancelled")
            part = rows[start:start + _ADD_CHUNK]
            x = np.asarray(source.matrix[part], dtype=np.float32)
            encode_into(index, x, source.row_ids[part], coarse.assign(x))
            if progress is not None:
                progress(min(n, start + _ADD_CHUNK), n)
        built = AnnSettings(**{**asdict(settings), "nlist": nlist})
        return cls(index, model=model, settings=built, state=state, built_count=n, coarse=coarse)

    # searching -----------------------------------------------------------
    def search(self, query: npt.ArrayLike, k: int, source: VectorSource, *, allow: IdsLike | None = None,
               exclude: IdsLike | None = None) -> Hits:
        """The best k by exact cosine among candidates; inside `allow` when given; never an id in `exclude`."""
        q = _unit(query, self.dim)
        excluded = _ids(exclude)
        if k <= 0:
            return Hits(np.zeros(0, np.int64), np.zeros(0, np.float32), "ann")
        selector: faiss.IDSelector | None = None
        scale = 1.0
        allowed: Ids | None = None
        if allow is not None:
            allowed = _ids(allow)
            if len(excluded):
                allowed = allowed[~member(allowed, excluded)]
            if len(allowed) <= self.settings.subset_scan_max:
                return Hits(*source.best(q, source.rows(allowed), k), "subset")
            scale = max(1.0, self.count / max(len(allowed), 1))  # probe more lists, as fewer pass in each
            selector, _pinned = make_selector(allowed)  # the selector points into _pinned: keep it alive
        pool = max(self.candidates, 10 * k) + len(excluded)
        _, found_2d, probed = self._probe(q[None, :], pool, scale, selector)
        found = found_2d[0]
        found = sorted_unique(found[found >= 0])
        if allowed is not None:  # the selector already did this; checked again, as it costs nothing
            found = found[member(found, allowed)]
        if len(excluded):
            found = found[~member(found, excluded)]
        ids, scores = source.best(q, source.rows(found), k)
        if len(ids) == k:
            return Hits(ids, scores, "ann", int(probed[0]))
        # Too few survived: answer exactly rather than short (unless the short answer is everything there is).
        if allowed is not None:
            return Hits(*source.best(q, source.rows(allowed), k), "subset")
        return Hits(*source.scan(q, k, excluded), "exact")

    def candidates_for(self, queries: Floats, count: int,
                       lists: npt.NDArray[np.int64] | None = None) -> tuple[Floats, Ids]:
        """Raw candidates (approximate scores, ids), each (n, count), -1 padded, not re-ranked: for batch
        users such as near-duplicates. `lists` gives the lists to probe per query (n, p); without it the
        lists are chosen as a search chooses them."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if lists is None:
            return self._probe(queries, count, 1.0, None)[:2]
        lists = np.ascontiguousarray(lists, dtype=np.int64)
        sims = np.einsum("nd,npd->np", queries, self._centroids[lists])  # scores are q.c + q.residual
        return self._preassigned(queries, count, lists, sims, faiss.SearchParametersIVF())

    def list_members(self, list_no: int) -> Ids:
        """The ids stored in one coarse list (near-duplicates walk the index list by list)."""
        with self._lock:  # not while a change replaces the mapped lists with a copy
            invlists = self._index.invlists
            assert invlists is not None
            size = invlists.list_size(list_no)
            if size == 0:
                return np.zeros(0, dtype=np.int64)
            return np.array(faiss.rev_swig_ptr(invlists.get_ids(list_no), size), dtype=np.int64)

    def list_scores(self, vectors: Floats, lists: Ids) -> Floats:
        """Each vector's product with the centroids of the given lists, (n, p) for lists (n, p)."""
        scores: Floats = np.einsum("nd,npd->np", np.asarray(vectors, dtype=np.float32), self._centroids[lists])
        return scores

    def list_gaps(self, first: Ids, second: Ids) -> Floats:
        """The distance between the centroids of lists `first` and `second`, element by element."""
        dots = np.einsum("...d,...d->...", self._centroids[first], self._centroids[second])
        gaps: Floats = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * dots)).astype(np.float32)
        return gaps

    def top_lists(self, vectors: Floats, count: int) -> Ids:
        """Each vector's `count` nearest lists, nearest first (near-duplicates compare a vector with the
        lists it borders, not only its own)."""
        with self._lock:
            if self._coarse is None:
                self._coarse = Coarse.regroup(self._centroids, self.settings.seed)
            coarse = self._coarse
        return coarse.top(np.ascontiguousarray(vectors, dtype=np.float32), count)

    def _probe(self, queries: Floats, count: int, scale: float,
               selector: faiss.IDSelector | None) -> tuple[Floats, Ids, Ids]:
        """Probe, per query, the lists within probe_delta of its best centroid (times `scale` for a
        filter), between nprobe and probe_max of them; unused slots are -1, which faiss skips."""
        most = max(1, min(self.nlist, math.ceil(self.probe_max * scale)))
        least = max(1, min(most, math.ceil(self.nprobe * scale)))
        # faiss's flat search over the centroids: exact and sorted, and for one query on one thread (a
        # numpy product here took 6 ms instead of 0.05 when OpenBLAS's two threads met a busy machine)
        threads_for(len(queries))
        assert self._index.quantizer is not None
        top_sims, lists = self._index.quantizer.search(queries, most)
        near = (top_sims >= top_sims[:, :1] - self.probe_delta).sum(axis=1)
        wanted = np.clip(np.ceil(near * scale), least, most).astype(np.int64)
        width = int(wanted.max())
        lists, top_sims = lists[:, :width].copy(), top_sims[:, :width].copy()
        unused = np.arange(width)[None, :] >= wanted[:, None]
        lists[unused], top_sims[unused] = -1, 0.0
        params = faiss.SearchParametersIVF()
        if selector is not None:
            params.sel = selector
        return (*self._preassigned(queries, count, lists, top_sims, params), wanted)

    def _preassigned(self, queries: Floats, count: int, lists: npt.NDArray[np.int64], sims: Floats,
                     params: faiss.SearchParametersIVF) -> tuple[Floats, Ids]:
        """faiss's search over given lists, with search parameters (its Python wrapper refuses them)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        lists = np.ascontiguousarray(lists, dtype=np.int64)
        sims = np.ascontiguousarray(sims, dtype=np.float32)
        scores = np.empty((len(queries), count), dtype=np.float32)
        found = np.empty((len(queries), count), dtype=np.int64)
        params.nprobe = lists.shape[1]
        ptr = faiss.swig_ptr
        with self._lock:
            self._index.parallel_mode = 0  # over queries: one query runs on one thread (see search)
            self._index.search_preassigned_c(  # type: ignore[attr-defined]  # missing from faiss's stubs
                len(queries), ptr(queries), count, ptr(lists), ptr(sims), ptr(scores), ptr(found), False, params)
        return scores, found

    # changing ------------------------------------------------------------
    def add(self, vectors: npt.ArrayLike, ids: IdsLike) -> None:
        """Add (or replace) vectors by id, into the trained lists: no rebuild, but drift grows."""
        new_ids = _ids(ids, unique=False)
        x = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(len(new_ids), self.dim))
        if len(sorted_unique(new_ids)) != len(new_ids):
            raise ValueError("the same id twice in one add")
        with self._lock:
            if len(new_ids):
                lists = self.top_lists(x, 1)[:, 0]
                self._own()
                self._index.remove_ids(faiss.IDSelectorBatch(new_ids))
                encode_into(self._index, x, new_ids, lists)
            self.added += len(new_ids)

    def remove(self, ids: IdsLike) -> int:
        """Remove by id (absent ids are ignored); returns how many were removed. One pass over the
        lists per call, so batch removals (about 50 ms per call at 10M)."""
        gone = _ids(ids)
        if len(gone) == 0:
            return 0
        with self._lock:
            self._own()
            removed = int(self._index.remove_ids(faiss.IDSelectorBatch(gone)))
            self.removed += removed
        return removed

    # persisting ----------------------------------------------------------
    def save(self, path: Path, before_replace: Callable[[], None] | None = None) -> None:
        """Write atomically; the previous file stays whole until the new one is complete."""
        header = {"kind": KIND, "model": self.model, "dim": self.dim, "count": self.count,
                  "built_count": self.built_count, "added": self.added, "removed": self.removed,
                  "settings": asdict(self.settings), "state": self.state, "faiss": faiss.__version__}

        def fill(sink: Callable[[bytes], int]) -> None:
            writer = faiss.PyCallbackIOWriter(sink)  # type: ignore[attr-defined]  # missing from faiss's stubs
            faiss.write_index(self._index, writer)

        with self._lock:
            self._own()  # faiss writes mapped lists as a reference to their file, not whole
            write_atomic(path, header, fill, before_replace)

    def _own(self) -> None:
        if self._payload is not None:
            owned(self._index)
            self._payload = None

    def verify(self, cancel: Callable[[], bool] = lambda: False) -> None:
        """The checksum pass over the file the lists are mapped from, skipped by load(verify=False):
        IndexDamaged when it fails. Nothing to do once the lists are in memory."""
        payload = self._payload
        if payload is not None:
            verify_payload(*payload, cancel=cancel)

    @classmethod
    def load(cls, path: Path, *, model: str, verify: bool = True) -> AnnIndex:
        """The saved index, its lists memory-mapped; IndexMissing / IndexDamaged when it cannot be trusted
        (the owner rebuilds). verify=False leaves the checksum pass to `verify` (ann_file.py says why)."""
        header, payload = open_mapped(path)
        if header.get("kind") != KIND:
            raise IndexDamaged(f"{path.name} holds a {header.get('kind')!r} index, not {KIND}: rebuild it")
        if header.get("model") != model:
            raise IndexDamaged(f"{path.name} was built for another model: rebuild it")
        if verify:
            verify_payload(payload, header)
        try:
            saved = AnnSettings(**header["settings"])
            settings = AnnSettings(**{**asdict(saved), "probe_delta": probe_delta_for(saved.nlist)})
            ivf = read_mapped(payload)
        except (RuntimeError, TypeError, KeyError) as err:
            raise IndexDamaged(f"approximate index {path.name} cannot be read ({err}): rebuild it") from None
        if (not isinstance(ivf, faiss.IndexIVFScalarQuantizer) or ivf.d != header.get("dim")
                or ivf.ntotal != header.get("count") or ivf.nlist != settings.nlist or not is_mapped(ivf)
                or not sizes_add_up(ivf)):
            raise IndexDamaged(f"approximate index {path.name} disagrees with its header: rebuild it")
        state = header.get("state")
        return cls(ivf, model=model, settings=settings, state=state if isinstance(state, dict) else {},
                   built_count=int(header.get("built_count", 0)), added=int(header.get("added", 0)),
                   removed=int(header.get("removed", 0)), payload=(payload, header))

def _unit(query: npt.ArrayLike, dim: int) -> Floats:
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    if q.shape[0] != dim:
        raise ValueError(f"query has {q.shape[0]} dimensions, the index {dim}")
    norm = float(np.linalg.norm(q))
    return q / norm if norm > 0 else q


def _ids(values: IdsLike | None, unique: bool = True) -> Ids:
    if values is None:
        return np.zeros(0, dtype=np.int64)
    if isinstance(values, (set, frozenset)):
        values = list(values)
    arr = np.asarray(values, dtype=np.int64).reshape(-1)
    return sorted_unique(arr) if unique else arr

