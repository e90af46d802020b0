"""A decode pool of worker processes, for machines with cores to spare.

Why: decode threads hold the GIL for everything around PIL's C code, so on
16 cores a thread pool decodes 640x480 JPEGs at a third of what processes
reach. Each worker reads the file itself, fingerprints it, decodes at draft
size and sends back only the resized, cropped 8-bit pixels: a quarter of the
floats the model takes. With GPU decode the workers read, fingerprint and
parse headers, and hand JPEG bytes back undecoded: in a sandbox where each
read is a costly system call, threads doing that fed the card at most 3,700
files a second. Processes start with `spawn` (safe beside threads and CUDA)
and cost a moment each, so they are used for large runs on machines with
many cores; threads everywhere else.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np

from .errors import ImageUnreadable
from .images import Preprocess, RawJpeg, decode, fingerprint, raw_jpeg, read_bytes
from .photo_facts import PhotoFacts, photo_facts
from .scan import FileStat

PROCESS_MIN_CORES = 8  # below this, threads decode as fast (measured: benchmarks/ingest.py)
PROCESS_MIN_FILES = 1_000  # below this, starting the workers costs more than they save


def use_processes(setting: str, files: int, cores: int | None = None) -> bool:
    if setting == "processes":
        return True
    if setting == "threads":
        return False
    return (cores or os.cpu_count() or 1) >= PROCESS_MIN_CORES and files >= PROCESS_MIN_FILES


Prepared = tuple[bytes, int, int, "np.ndarray | RawJpeg", PhotoFacts]
CHUNK = 16  # files a worker takes at once: one message each way for 16 files, not for each
SHIP_BYTES = 2 << 20  # JPEGs up to this size travel back whole; the parent reads bigger ones from the page cache


def read_and_crop(stat: FileStat, pp: Preprocess, max_pixels: int) -> Prepared:
    """In a worker: fingerprint, stored width and height, the uint8 crop and the photo's facts (raises
    ImageUnreadable). With GPU decode, a JPEG the card takes comes back undecoded instead of a crop (its
    bytes empty when it is big: shipping megabytes through a pipe costs more than reading them again)."""
    data = read_bytes(stat.path)
    if pp.raw_jpeg:
        raw = raw_jpeg(data, max_pixels)
        if raw is not None:
            if len(data) > SHIP_BYTES:
                raw = dataclasses.replace(raw, data=b"")
            return fingerprint(data), raw.width, raw.height, raw, photo_facts(data, stat.mtime_ns)
    image, width, height = decode(data, draft_size=pp.draft_size, max_pixels=max_pixels)
    return fingerprint(data), width, height, pp.crop(image), photo_facts(data, stat.mtime_ns)


def read_and_crop_many(stats: list[FileStat], pp: Preprocess, max_pixels: int) -> list[Prepared | str]:
    """In a worker: `read_and_crop` for each file, or why it could not be read."""
    out: list[Prepared | str] = []
    for stat in stats:
        try:
            out.append(read_and_crop(stat, pp, max_pixels))
        except ImageUnreadable as exc:
            out.append(str(exc))
    return out


class ProcessDecoder:
    """Worker processes that decode a run's files in chunks, in the order the run will ask for them.

    Why chunks: a task per file cost a round trip through the pool's queues and its parent-side threads
    each time (the measured pool reached half of what its cores could); 16 files a task keep the parent's
    share small. `result` may be called from any thread, in roughly the run's order.
    """

    def __init__(self, workers: int, stats: list[FileStat], pp: Preprocess, max_pixels: int) -> None:
        self.workers = max(1, workers)
        self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_nice)
        self._stats, self._pp, self._max_pixels = stats, pp, max_pixels
        self._order = {stat.path: i for i, stat in enumerate(stats)}
        self._chunks: dict[int, Future[list[Prepared | str]]] = {}
        self._taken: dict[int, int] = {}
        self._next = 0  # the next chunk to hand to the workers
        self._ahead = 2 * self.workers  # chunks queued beyond the one asked for: every worker has the next
        self._lock = threading.Lock()

    def result(self, stat: FileStat) -> Prepared:
        """The prepared file (raises ImageUnreadable with the worker's reason)."""
        index = self._order[stat.path]
        chunk = index // CHUNK
        with self._lock:
            while self._next <= chunk + self._ahead and self._next * CHUNK < len(self._stats):
                start = self._next * CHUNK
                self._chunks[self._next] = self._pool.submit(read_and_crop_many, self._stats[start:start + CHUNK],
                                                             self._pp, self._max_pixels)
                self._next += 1
            future = self._chunks[chunk]
        values = future.result()
        with self._lock:  # the chunk is dropped once each of its files was asked for
            self._taken[chunk] = self._taken.get(chunk, 0) + 1
            if self._taken[chunk] == len(values):
                del self._chunks[chunk], self._taken[chunk]
        value = values[index - chunk * CHUNK]
        if isinstance(value, str):
            raise ImageUnreadable(value)
        return value

    def warm_up(self) -> None:
        """Start every worker and wait until each has imported what it needs (benchmarks time decoding alone)."""
        for future in [self._pool.submit(_started, 0.2) for _ in range(self.workers)]:
            future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _started(pause: float) -> int:
    time.sleep(pause)  # held long enough that the next warm-up task goes to another worker
    return os.getpid()


def _nice() -> None:
    """Workers yield to the interface and the inference thread, as decode threads do."""
    try:
        os.nice(5)
    except OSError:
        pass
