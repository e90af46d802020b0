"""Benchmark: what an index run's own process can feed a card that answers at once, and what each file costs
its main thread.

Why: on a GPU machine one interpreter sorts what the decode workers send back, writes each batch and drives
the card; at 5,000 images a second it has 200 us a file for all of it, and on an H200 it was what held whole
runs of 640x480 JPEGs. Prints, side by side: ours (a whole Engine.index with worker processes reading and
the model replaced by one that answers at once), the other way (the pipeline's threads read), and the limit
(the workers reading, fingerprinting and parsing headers, with no run around them), each with its main
thread's CPU per file. Then what starting a run's worker processes costs (16 by default, as on a 16-core
GPU machine): ours (forked from a server that has loaded the decoder), the naive way (`spawn`: each
worker a new interpreter that imports it), until every worker's first chunk is back and at close.

    python benchmarks/feed.py                          # 8,192 JPEGs of 640x480, a worker per core
    python benchmarks/feed.py --n 16384 --workers 16   # as on a 16-core GPU machine
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from common import Timer, table, tiny_clip_dir, unique_jpegs
from ingest_parts import feed_alone


def card_files(files: list[Path], model_dir: Path) -> tuple[list[Any], Any]:
    """The files as a run sees them, and the model's preprocessing with JPEGs left for the card."""
    from clipgit.core.models.clip import ClipEncoder
    from clipgit.core.scan import FileStat

    pp = dataclasses.replace(ClipEncoder(str(model_dir), device="cpu").load(), raw_jpeg=True)
    return [FileStat(str(f), f.stat().st_size, 0) for f in files], pp


def run_pool(stats: list[Any], pp: Any, workers: int) -> Any:
    """The worker processes an index run with GPU decode would start for these files (`plan_reads`)."""
    from clipgit.core.ingest.read_plan import plan_reads

    return plan_reads(stats, lambda: pp, decode="processes", workers=workers, batch_size=512, max_pixels=10**9,
                      backend=None, cpu_wanted=lambda: False).processes


def pool_alone(files: list[Path], workers: int, model_dir: Path) -> tuple[float, float]:
    """The worker processes alone: every file read, fingerprinted and its header parsed into the shared
    block, taken back in order on this thread and given back; files a second and this thread's CPU a file."""
    stats, pp = card_files(files, model_dir)
    pool = run_pool(stats, pp, workers)
    try:
        pool.warm_up()
        cpu = time.thread_time()
        with Timer() as t:
            for stat in stats:
                pool.result(stat)
                pool.done_with(stat)
        return len(stats) / t.wall, (time.thread_time() - cpu) / len(stats)
    finally:
        pool.close()


def pool_start(files: list[Path], workers: int, model_dir: Path, method: str) -> list[tuple[float, float, float]]:
    """Two pools one after the other (a later run in the same process): seconds to the first file, to three
    chunks a worker, and to close."""
    import multiprocessing

    from clipgit.core.decode import pool as decode_pool

    stats, pp = card_files(files[: workers * decode_pool.JPEG_CHUNK * 3], model_dir)
    ours = decode_pool.start_method
    if method == "spawn":
        decode_pool.start_method = lambda: multiprocessing.get_context("spawn")
    out = []
    try:
        for _ in range(2):
            started = time.perf_counter()
            pool = run_pool(stats, pp, workers)
            first = 0.0
            for stat in stats:
                pool.result(stat)
                pool.done_with(stat)
                first = first or time.perf_counter() - started
            every = time.perf_counter() - started
            closing = time.perf_counter()
            pool.close()
            out.append((first, every, time.perf_counter() - closing))
    finally:
        decode_pool.start_method = ours
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--n", type=int, default=8192)
    ap.add_argument("--workers", type=int, default=0, help="decode workers (default: one per core)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each row; the best is shown, all printed")
    ap.add_argument("--start-workers", type=int, default=16, help="workers for the pool-start rows")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    folder = unique_jpegs(size, args.n)
    files = sorted(folder.iterdir())[: args.n]
    model_dir = tiny_clip_dir()  # the model never runs: only its preprocessing settings are read
    workers = args.workers or os.cpu_count() or 1
    rows: list[tuple[str, str, str]] = [("", "files/s", "main thread CPU per file")]
    for name, run in (
        ("ours: Engine.index, worker processes read", lambda: _feed(folder, args.n, model_dir, "processes",
                                                                     workers)),
        ("the other way: Engine.index, the pipeline's threads read", lambda: _feed(folder, args.n, model_dir,
                                                                                  "threads", workers)),
        ("limit: the worker processes alone", lambda: pool_alone(files, workers, model_dir)),
    ):
        got = [run() for _ in range(args.repeats)]
        print(f"{name}: " + ", ".join(f"{rate:,.0f}/s ({cpu * 1e6:.0f} us)" for rate, cpu in got), flush=True)
        rate, cpu = max(got)
        rows.append((name, f"{rate:,.0f}", f"{cpu * 1e6:.0f} us"))
    print()
    print(f"{args.n} JPEGs of {args.size}, {workers} workers, {os.cpu_count()} cores; the card answers at once")
    print(table(rows))
    starts = [("ms", "first file", f"3 chunks a worker ({3 * args.start_workers} chunks)", "close")]
    for name, method in (("ours (a fork server; this process's first pool, then its second)", "forkserver"),
                         ("naive (spawn: an interpreter and its imports per worker)", "spawn")):
        for i, (first, every, closing) in enumerate(pool_start(files, args.start_workers, model_dir, method)):
            starts.append((f"{name}, pool {i + 1}", f"{first * 1e3:.0f}", f"{every * 1e3:.0f}",
                           f"{closing * 1e3:.0f}"))
    print(f"\nstarting {args.start_workers} worker processes, {os.cpu_count()} cores")
    print(table(starts))


def _feed(folder: Path, n: int, model_dir: Path, decode: str, workers: int) -> tuple[float, float]:
    costs: dict[str, float] = {}
    rate = feed_alone(folder, n, model_dir, "cpu", decode, batch=512, workers=workers, costs=costs)
    return rate, costs["main thread"]


if __name__ == "__main__":
    main()
