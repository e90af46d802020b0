"""Benchmark: writing an index run's batches to the catalog, alone and beside a busy Python thread.

Why: SQLite gives up the GIL at every step of a statement and waits to get it back; a statement a row
(`executemany`) beside a thread that keeps the GIL busy (on a GPU machine, the threads that feed the card)
waits a switch interval for each row. Prints, side by side: ours (`Catalog.add_new_images`: a few
multi-row statements a batch), the naive way (the same rows with `executemany`, a step a row), and the
limit (ours with the rows' arguments built beforehand and nothing beside it), in us per row.

    python benchmarks/commit.py [--n 8192] [--batch 512]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from common import table


def naive(catalog: Any, rows: Sequence[Any], model: str) -> None:
    """A statement a row: how the catalog wrote batches before (look-up of the ids included)."""
    from clipgit.core.names import to_db
    from clipgit.core.store.batch_writes import INSERT_NEW_IMAGES, NEW_IMAGE_VALUES, new_image_values

    catalog.conn.executemany(INSERT_NEW_IMAGES.format(values=NEW_IMAGE_VALUES),
                             [new_image_values(r) for r in rows])
    paths = [to_db(r.path) for r in rows]
    ids = {p: i for i, p in catalog._where_in("SELECT id, path FROM images WHERE path IN ({ids})", paths)}
    catalog.conn.executemany("INSERT OR REPLACE INTO embeddings (image_id, model, vector) VALUES (?, ?, ?)",
                             [(ids[p], model, r.vector) for p, r in zip(paths, rows)])


def limit(catalog: Any, rows: Sequence[Any], model: str) -> None:
    """Ours with nothing to build: the arguments were made beforehand (see `prebuilt`)."""
    conn = catalog.conn
    images, vectors = rows
    for sql, args in images:
        conn.execute(sql, args)
    for sql, args in vectors:
        conn.execute(sql, args)


def prebuilt(conn: Any, rows: Sequence[Any], first_id: int, model: str) -> tuple[list[Any], list[Any]]:
    """Ours, the statements and their arguments made before the clock starts."""
    from clipgit.core.store.batch_writes import image_statements, vector_statements

    return (list(image_statements(conn, rows)),
            list(vector_statements(conn, range(first_id, first_id + len(rows)), rows, model)))


def timed(write: Callable[[Any, Any, str], None], n: int, batch: int, busy: bool, build: bool = False) -> float:
    """Microseconds a row to write n new images in batches, each batch one transaction."""
    from clipgit.core.decode.photo_facts import PhotoFacts
    from clipgit.core.store.batch_writes import NewImage
    from clipgit.core.store.catalog import Catalog

    catalog = Catalog(Path(tempfile.mkdtemp(prefix="clipgit-bench-")) / "catalog.db")
    with catalog.transaction():
        folder = catalog.add_folder("/photos")
    facts = PhotoFacts(1.7e9, "exif", "Canon EOS", False)
    vectors = np.random.default_rng(0).random((n, 512), dtype=np.float32)
    rows = [NewImage(folder, f"/photos/IMG_{i:06d}.jpg", 80_000 + i, 10**18 + i, os.urandom(16), 640, 480,
                     vectors[i].tobytes(), facts) for i in range(n)]
    batches: list[Any] = [rows[s:s + batch] for s in range(0, n, batch)]
    if build:
        batches = [prebuilt(catalog.conn, b, 1 + s * batch, "m") for s, b in enumerate(batches)]
    stop = threading.Event()

    def spin() -> None:  # pure Python, as a thread that sorts files or drives a card is between its waits
        x = 0
        while not stop.is_set():
            for _ in range(1000):
                x += 1

    spinner = threading.Thread(target=spin)
    if busy:
        spinner.start()
    started = time.perf_counter()
    try:
        for b in batches:
            with catalog.transaction():
                write(catalog, b, "m")
    finally:
        stop.set()
        if busy:
            spinner.join()
    seconds = time.perf_counter() - started
    assert catalog.conn.execute("SELECT count(*) FROM embeddings").fetchone()[0] == n
    catalog.close()
    return seconds / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=512)
    args = ap.parse_args()
    from clipgit.core.store.catalog import Catalog

    def ours(catalog: Any, rows: Any, model: str) -> None:
        Catalog.add_new_images(catalog, rows, model)

    lines = [("us per row", "alone", "beside a busy Python thread")]
    for name, write, build in (("ours (Catalog.add_new_images: multi-row statements)", ours, False),
                               ("naive (executemany: a step a row)", naive, False)):
        alone = min(timed(write, args.n, args.batch, busy=False, build=build) for _ in range(3))
        beside = timed(write, max(args.batch * 2, args.n // 8) if write is naive else args.n, args.batch,
                       busy=True, build=build)
        print(f"{name}: {alone:.1f} alone, {beside:,.1f} beside", flush=True)
        lines.append((name, f"{alone:.1f}", f"{beside:,.1f}"))
    best = min(timed(limit, args.n, args.batch, busy=False, build=True) for _ in range(3))
    lines.append(("limit: ours with the arguments built beforehand, alone", f"{best:.1f}", ""))
    print(f"\n{args.n} new images in batches of {args.batch}, SQLite {sqlite3.sqlite_version}")
    print(table(lines))


if __name__ == "__main__":
    main()
