"""How an index run's files are read: by the pipeline's threads, or by worker processes, and who then
sorts what the workers send back.

Why a choice: worker processes read and decode past the GIL (or, for the card, read), into a shared block
where one can be had; the run's own thread then sorts what they wrote there (JPEGs for the card, or the
model's input), and twice as many threads as workers sort what comes through pipes. With GPU decode they pay for small
files only: on an H200 they fed the card 4,073 640x480 JPEGs a second where threads fed 3,433, but 279
photos of 12 MP where threads fed 452 (threads decode big ones beside the card, see decode_split).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from clipgit.core.decode.image import Preprocess
from clipgit.core.decode.pool import CHUNK, JPEG_CHUNK, ProcessDecoder, use_processes
from clipgit.core.decode.shared_block import REGION_BYTES
from clipgit.core.ingest.pipeline import DecodeBackend, InlineBackend
from clipgit.core.scan import FileStat

SMALL_FILE = 1 << 20  # with GPU decode, worker processes read runs of files smaller than this (the median)


@dataclass
class ReadPlan:
    processes: ProcessDecoder | None  # the run closes them when it ends
    backend: DecodeBackend | InlineBackend | None  # None: the pipeline's threads
    workers: int  # threads of the pipeline
    window: int  # files the pipeline runs ahead


def plan_reads(stats: list[FileStat], preprocess: Callable[[], Preprocess], *, decode: str, workers: int,
               batch_size: int, max_pixels: int, backend: DecodeBackend | None,
               cpu_wanted: Callable[[], bool]) -> ReadPlan:
    """The run's read plan; `preprocess` (which loads the model) is asked only where processes may read."""
    window = max(2 * batch_size, 2 * workers)
    if not use_processes(decode, len(stats)):
        return ReadPlan(None, backend, workers, window)
    pp = preprocess()
    if decode != "processes" and pp.raw_jpeg and statistics.median(s.size for s in stats) >= SMALL_FILE:
        return ReadPlan(None, backend, workers, window)
    chunk = JPEG_CHUNK if pp.raw_jpeg else CHUNK
    chunks_in_use = 2 * workers + 3 + (4 * workers + 4 * batch_size) // chunk
    processes = ProcessDecoder(workers, stats, pp, max_pixels, regions=chunks_in_use, cpu_wanted=cpu_wanted,
                               region_bytes=region_bytes(stats, pp, chunk), chunk=chunk)
    if processes.block is not None:  # sorted on the run's thread
        return ReadPlan(processes, InlineBackend(), 1, 1)
    return ReadPlan(processes, backend, 2 * workers, max(window, 4 * workers))


def region_bytes(stats: list[FileStat], pp: Preprocess, chunk: int) -> int:
    """Room for a chunk of this run's JPEGs (nine in ten chunks fit whole; a file that does not travels
    through the pipe): the block takes shared memory as the workers fill it, so it is no larger than the
    run needs. Decoded pictures take a chunk of the model's inputs."""
    if not pp.raw_jpeg:
        return chunk * (pp.input_bytes + 64)
    sizes = sorted(stat.size for stat in stats)
    return min(REGION_BYTES, max(1 << 20, chunk * sizes[len(sizes) * 9 // 10] * 5 // 4))
