"""Exact search as the engine runs it on a device, for benchmarks/scale.py: the library's fp16 rows copied onto
the device by core/store/device_scan.DeviceScan (on CUDA, what a GPU machine's exact path is), then one query
at a time, top-10, plain and inside each filter. Apart from scale.py so that file stays the ANN's.

On --device cpu the same class runs on torch's CPU device (the rows copied into memory): the code path
checked here without a GPU; the engine's CPU exact path itself scans the memory-mapped snapshot instead.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
from common import percentile
from scale_data import N_QUERIES, SELECTIVITIES


def ms(values: list[float]) -> str:
    return f"{percentile(values, 50) * 1e3:.1f} / {percentile(values, 95) * 1e3:.1f}"


def device_exact(folder: Path, device: str, count: int) -> dict[str, object]:
    """Upload the library to `device`, then time `count` image and `count` text queries (top-10, recall against
    the float32 truth) and, per filter, 100 top-1 queries (right: the exact best inside the filter)."""
    from clipgit.core.store.device_scan import DeviceScan
    from clipgit.core.store.vectors import SnapshotView, id_hashes

    warnings.filterwarnings("ignore", message=".*not writable.*")  # the .npy is mapped read-only; rows are copied
    mm, ids = np.load(folder / "vectors.npy", mmap_mode="r"), np.load(folder / "ids.npy")
    queries, truth, ftruth = (np.load(folder / f"{name}.npy") for name in ("queries", "truth", "ftruth"))
    n = len(ids)
    view = SnapshotView(mm, ids, np.arange(1, n + 1), np.ones(n, dtype=bool),
                        (n, int(ids.sum()), int(id_hashes(ids).sum())), n, 0, 1)
    scan = DeviceScan(device)
    t0 = time.perf_counter()
    scan.load(view)
    out: dict[str, object] = {"upload_s": time.perf_counter() - t0, "chunks": len(scan._chunks),
                              "chunk_rows": scan.chunk_rows}
    scan.top_k(queries[0], 10)  # the device's first kernels
    for kind, start in (("img", 0), ("txt", N_QUERIES)):
        times, found = [], []
        for q in queries[start:start + count]:
            t = time.perf_counter()
            found.append([i for i, _ in scan.top_k(q, 10)])
            times.append(time.perf_counter() - t)
        recall = np.mean([len(set(f) & set(w)) / 10 for f, w in zip(found, truth[start:start + count])])
        out[kind] = {"times": times, "recall": float(recall)}
    picked = np.r_[0:50, N_QUERIES:N_QUERIES + 50]
    for j, s in enumerate(SELECTIVITIES):
        allow = np.load(folder / f"allow-{s}.npy")
        times, right = [], 0
        for i in picked:
            t = time.perf_counter()
            hits = scan.top_k(queries[i], 1, allow=allow)
            times.append(time.perf_counter() - t)
            right += int([h for h, _ in hits] == [ftruth[j, i]])
        out[f"filter {s}"] = {"times": times, "right": right / len(picked)}
    scan.close()
    return out


def exact_rows(device: str, got: dict[str, object]) -> list[tuple[str, ...]]:
    """The device scan's rows: top-10 latency and recall, then each filter's top-1 latency and rightness."""
    rows = [("exact on the device", "query", "p50/p95 ms", "recall@10 / top-1 = exact best")]
    for kind, what in (("img", "image top-10"), ("txt", "text top-10")):
        val = got[kind]
        assert isinstance(val, dict)
        rows.append((f"DeviceScan {device}", what, ms(val["times"]), f"{val['recall']:.4f}"))
    for s in SELECTIVITIES:
        val = got[f"filter {s}"]
        assert isinstance(val, dict)
        rows.append((f"DeviceScan {device}", f"filtered {s:.1%} top-1", ms(val["times"]), f"{val['right']:.2f}"))
    return rows
