"""faiss's inverted lists, handled below its Python wrapper: encoding into lists we choose, ID selectors
for filters, and the memory-mapped lists of a loaded index.

Why apart from ann.py: these are the places where clipgit calls faiss's C++ entry points through raw
pointers (its wrapper refuses preassigned lists and search parameters) or relies on how faiss lays out a
memory-mapped file; keeping them together keeps ann.py about what the index means.

A loaded index maps its lists read-only (faiss's IO_FLAG_MMAP: the file's pages, not a copy), so opening
costs milliseconds at any size. faiss refuses to change mapped lists, so the first change copies them
into memory (`owned`): about a second at 10M vectors, once, on the thread that applies changes.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from clipgit.core.store.vector_source import Floats, Ids

IVF = faiss.IndexIVFScalarQuantizer
_THREADS = faiss.omp_get_max_threads()


def threads_for(queries: int) -> None:
    """One OpenMP thread for a single query, all of them for a batch, on the calling thread only (OpenMP
    keeps the setting per thread, so a build on another thread keeps its own).

    Why: faiss splits even one query's centroid scan and list scan over threads; on 2 cores shared with
    other work, waiting for the second thread made a 10M query's probe 30 ms instead of 9 (measured).
    """
    faiss.omp_set_num_threads(1 if queries == 1 else _THREADS)


def encode_into(index: IVF, x: Floats, ids: Ids | None, lists: Ids, train_only: bool = False) -> None:
    """Encode into the given lists (assigned by Coarse, not by faiss's quantizer search): or, with
    train_only, fit the 4-bit codes' ranges to these vectors' residuals."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    lists = np.ascontiguousarray(lists, dtype=np.int64)
    ptr = faiss.swig_ptr
    if train_only:
        index.train_encoder(len(x), ptr(x), ptr(lists))
        index.is_trained = True
        return
    assert ids is not None
    index.add_core(len(x), ptr(x), ptr(np.ascontiguousarray(ids, dtype=np.int64)), ptr(lists))


def selector(allowed: Ids) -> tuple[faiss.IDSelector, npt.NDArray[np.uint8] | Ids]:
    """A bitmap over ids when they are small non-negative numbers (SQLite rowids), else a hash set.

    Returns the array the selector points into as well: it must outlive the search.
    """
    top = int(allowed[-1]) if len(allowed) else 0
    if len(allowed) and allowed[0] >= 0 and top < max(1 << 23, 64 * len(allowed)):
        bits = np.zeros(top + 1, dtype=bool)
        bits[allowed] = True
        packed = np.packbits(bits, bitorder="little")
        return faiss.IDSelectorBitmap(len(packed), faiss.swig_ptr(packed)), packed  # n counts bytes
    return faiss.IDSelectorBatch(allowed), allowed


def read_mapped(payload: Path) -> faiss.Index:
    """faiss's reader with its lists memory-mapped; RuntimeError when the file is not a faiss index."""
    index = faiss.read_index(str(payload), faiss.IO_FLAG_MMAP)
    ivf = faiss.downcast_index(index)
    if ivf is not index:  # the subclass proxy takes over the C++ object, or it dies with `index`
        index.thisown, ivf.thisown = False, True  # type: ignore[attr-defined]
    lists = getattr(ivf, "invlists", None)
    mapped = None if lists is None else faiss.downcast_InvertedLists(lists)
    if isinstance(mapped, faiss.OnDiskInvertedLists):
        mapped.prefetch_nthread = 0  # else faiss starts 32 threads a search to page in lists the search reads anyway
    return ivf


def sizes_add_up(index: IVF) -> bool:
    """Whether the lists hold exactly ntotal entries: checked before a mapped index answers, because a
    damaged list size would make faiss read past its mapping (the checksum pass comes later)."""
    invlists = index.invlists
    assert invlists is not None
    return sum(invlists.list_size(i) for i in range(index.nlist)) == index.ntotal


def is_mapped(index: IVF) -> bool:
    assert index.invlists is not None
    return isinstance(faiss.downcast_InvertedLists(index.invlists), faiss.OnDiskInvertedLists)


def owned(index: IVF) -> None:
    """Copy mapped lists into memory, so that faiss lets them change and writes them whole."""
    mapped = index.invlists
    assert mapped is not None
    copy = faiss.ArrayInvertedLists(index.nlist, index.code_size)
    for list_no in range(index.nlist):
        size = mapped.list_size(list_no)
        if size:
            copy.add_entries(list_no, size, mapped.get_ids(list_no), mapped.get_codes(list_no))
    index.replace_invlists(copy, True)  # the index frees the mapped lists and owns the copy
    copy.thisown = False  # type: ignore[attr-defined]  # not in faiss's stubs
