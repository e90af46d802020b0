"""Benchmark: near-duplicate groups of a 100,000-image library, on synthetic 512-d vectors.

Prints, side by side: ours (`Engine.duplicates`: the vectors from the
library's snapshot, all pairs as blocks of one matrix product, exact copies by
fingerprint, groups by union-find), the naive way (a top-k search per image,
timed on a sample and scaled up), and the limit (the all-pairs matrix product
alone). Planted groups (burst shots: a vector plus small noise) must all be
found, and nothing else.

    python benchmarks/dupes.py [--vectors 100000] [--groups 500]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from common import table


def library(data_dir: Path, n: int, groups: int, model: str) -> set[frozenset[str]]:
    """n unit vectors, `groups` of them with 1-4 near copies each (cosine about 0.98); the planted groups."""
    from clipgit.core.store.catalog import Catalog
    from clipgit.core.store.vectors import as_blob

    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((n, 512)).astype(np.float32)
    planted: list[list[int]] = []
    row = 0
    for _ in range(groups):
        copies = int(rng.integers(1, 5))
        for c in range(1, copies + 1):
            vecs[row + c] = vecs[row] + rng.standard_normal(512).astype(np.float32) * 0.006 * np.linalg.norm(vecs[row])
        planted.append(list(range(row, row + copies + 1)))
        row += copies + 1
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    cat = Catalog(data_dir / "library.db")
    with cat.transaction():
        folder = cat.add_folder("/synthetic")
        for i, vec in enumerate(vecs):
            image = cat.upsert_image(folder, f"/synthetic/{i:06d}.jpg", 1000 + i, 1, i.to_bytes(16, "big"), 640, 480,
                                     None)
            cat.add_embedding(image, model, as_blob(vec))
    cat.close()
    return {frozenset(f"/synthetic/{i:06d}.jpg" for i in g) for g in planted}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vectors", type=int, default=100_000)
    ap.add_argument("--groups", type=int, default=500)
    args = ap.parse_args()
    from clipgit.core.config import Settings
    from clipgit.core.engine import Engine
    from clipgit.core.store.vectors import VectorIndex

    work = Path(tempfile.mkdtemp(prefix="clipgit-dupes-"))
    model = "synthetic-model"
    planted = library(work, args.vectors, args.groups, model)
    settings = Settings(data_dir=work, clip_model=model, device="cpu")
    with Engine(settings) as engine:
        engine.duplicates(threshold=0.999, folder="/nowhere")  # opens the library's vectors (a snapshot after)
        started = time.perf_counter()
        groups = engine.duplicates(threshold=0.95)
        ours = time.perf_counter() - started
    found = {frozenset(f.path for f in g.files) for g in groups}
    index = VectorIndex(model, work)
    from clipgit.core.store.catalog import Catalog

    cat = Catalog(work / "library.db")
    index.refresh(cat)
    ids, mat = index.live()
    sample = 300
    started = time.perf_counter()
    for i in range(sample):
        index.top_k(mat[i].astype(np.float32), 10)
    naive = (time.perf_counter() - started) / sample * len(ids)
    full = mat.astype(np.float32)
    started = time.perf_counter()
    for start in range(0, len(full), 512):
        full[start:start + 512] @ full[start:].T
    limit = time.perf_counter() - started
    print(f"{args.vectors:,} vectors of 512 dims, {args.groups} planted groups, {os.cpu_count()} cores")
    print(table([
        ("", "seconds", "groups found"),
        ("ours (Engine.duplicates, threshold 0.95)", f"{ours:.1f}", f"{len(found)} (planted {len(planted)}, "
                                                                    f"{'all' if found == planted else 'NOT all'})"),
        ("naive: a top-10 search per image (scaled from 300)", f"{naive:.1f}", ""),
        ("limit: the all-pairs matrix product alone", f"{limit:.1f}", ""),
    ]))


if __name__ == "__main__":
    main()
