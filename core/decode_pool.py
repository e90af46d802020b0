"""A decode pool of worker processes, for machines with cores to spare.

Why: decode threads hold the GIL for everything around PIL's C code, so on
16 cores a thread pool decodes 640x480 JPEGs at a third of what processes
reach. Each worker reads the file itself (no bytes cross a pipe), fingerprints
it, decodes at draft size and sends back only the resized, cropped 8-bit
pixels: a quarter of the floats the model takes. Processes start with
`spawn` (safe beside threads and CUDA) and cost a moment each, so they are
used for large runs on machines with many cores; threads everywhere else.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np

from .images import Preprocess, decode, fingerprint, read_bytes
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


Prepared = tuple[bytes, int, int, np.ndarray, PhotoFacts]


def read_and_crop(stat: FileStat, pp: Preprocess, max_pixels: int) -> Prepared:
    """In a worker: fingerprint, stored width and height, the uint8 crop and the photo's facts (raises
    ImageUnreadable)."""
    data = read_bytes(stat.path)
    image, width, height = decode(data, draft_size=pp.draft_size, max_pixels=max_pixels)
    return fingerprint(data), width, height, pp.crop(image), photo_facts(data, stat.mtime_ns)


class ProcessDecoder:
    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_nice)

    def submit(self, stat: FileStat, pp: Preprocess, max_pixels: int) -> Future[Prepared]:
        return self._pool.submit(read_and_crop, stat, pp, max_pixels)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _nice() -> None:
    """Workers yield to the interface and the inference thread, as decode threads do."""
    try:
        os.nice(5)
    except OSError:
        pass
