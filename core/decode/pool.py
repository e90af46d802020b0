"""A decode pool of worker processes, for machines with cores to spare.

Why: decode threads hold the GIL for everything around PIL's C code, so on
16 cores a thread pool decodes 640x480 JPEGs at a third of what processes
reach. Each worker reads the file itself, fingerprints it, decodes at draft
size and writes the model's input (resized, cropped, normalised floats) into
a block of shared memory (without one, the 8-bit crop goes through the pipe,
a quarter of the size, and the parent normalises it); with GPU decode it
reads, fingerprints and parses headers, and writes the JPEG bytes there
undecoded. Only a few numbers per
file come back through the pipe, and the parent sorts them on one thread: in
a sandbox where each read and each thread wake-up is a costly system call,
threads feeding the card reached 3,861 files a second, these processes 5,382
(H200). Why the workers normalise: when the parent turned 8-bit crops into
floats on four threads, those threads held the pool to 1,404 files a second
on an H200; here the parent's CPU per file went from 323-609 to 35-53 us.
Processes start from a fork server on Linux (`start_method`), `spawn`
elsewhere, and cost a moment each, so they are used for large runs on
machines with many cores; threads everywhere else.
"""

from __future__ import annotations

import ctypes
import dataclasses
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np

from clipgit.core.decode import shared_block
from clipgit.core.decode.image import Preprocess, decode, fingerprint, read_bytes
from clipgit.core.decode.jpeg_header import RawJpeg, raw_jpeg
from clipgit.core.decode.photo_facts import PhotoFacts, photo_facts
from clipgit.core.decode.shared_block import REGION_BYTES, Region, SharedBlock
from clipgit.core.decode.split import HYBRID_MIN_PIXELS
from clipgit.core.errors import ImageUnreadable
from clipgit.core.inference import BACKGROUND_NICE
from clipgit.core.scan import FileStat

PROCESS_MIN_CORES = 8  # below this, threads decode as fast (measured: benchmarks/ingest.py)
PROCESS_MIN_FILES = 1_000  # below this, starting the workers costs more than they save


def use_processes(setting: str, files: int, cores: int | None = None) -> bool:
    if setting == "processes":
        return True
    if setting == "threads":
        return False
    return (cores or os.cpu_count() or 1) >= PROCESS_MIN_CORES and files >= PROCESS_MIN_FILES


Prepared = tuple[bytes, int, int, "np.ndarray | RawJpeg", PhotoFacts]


@dataclasses.dataclass(frozen=True)
class InBlock:
    """Where a worker put a file's JPEG bytes (shape None) or the model's float32 input in the shared block."""

    offset: int
    length: int
    shape: tuple[int, ...] | None = None


CHUNK = 16  # files a worker takes at once: one message each way for 16 files, not for each
JPEG_CHUNK = 32  # JPEGs for the card: a few KB of numbers per chunk, and each chunk costs the parent wake-ups
NO_PIXELS = np.empty(0, np.float32)  # what travels in a file's place when its pixels are in the block
SHIP_BYTES = 2 << 20  # JPEGs up to this size travel back whole; the parent reads bigger ones from the page cache


def read_and_crop(stat: FileStat, pp: Preprocess, max_pixels: int, big_here: bool = False) -> Prepared:
    """In a worker: fingerprint, stored width and height, the uint8 crop and the photo's facts (raises
    ImageUnreadable). With GPU decode, a JPEG the card takes comes back undecoded instead of a crop."""
    data = read_bytes(stat.path)
    if pp.raw_jpeg:
        raw = raw_jpeg(data, max_pixels)
        if raw is not None and not (big_here and raw.width * raw.height >= HYBRID_MIN_PIXELS):
            return fingerprint(data), *raw.shown_size, raw, photo_facts(data, stat.mtime_ns)
    image, width, height = decode(data, draft_size=pp.draft_size, max_pixels=max_pixels)
    return fingerprint(data), width, height, pp.crop(image), photo_facts(data, stat.mtime_ns)


def read_and_crop_many(stats: list[FileStat], pp: Preprocess, max_pixels: int, region: Region | None = None,
                       big_here: bool = False) -> list[Prepared | str | tuple[Prepared, InBlock]]:
    """In a worker: `read_and_crop` for each file, or why it could not be read. Given a region of the shared
    block, JPEG bytes and crops normalised into the model's input are written there, and only where they are
    travels back. A crop that does not fit travels as it is; a JPEG that does not fit (or, without a region,
    a big one) comes back with its bytes empty: shipping megabytes through a pipe costs more than the parent
    reading them again. `big_here`: the card has a backlog, so big JPEGs
    are decoded here."""
    out: list[Prepared | str | tuple[Prepared, InBlock]] = []
    used = 0
    for stat in stats:
        try:
            fp, width, height, got, facts = read_and_crop(stat, pp, max_pixels, big_here)
        except ImageUnreadable as exc:
            out.append(str(exc))
            continue
        if not isinstance(got, RawJpeg):
            used = -(-used // 64) * 64  # floats start aligned, after JPEG bytes of any length
            room = shared_block.space(region, used, pp.input_bytes) if region is not None else None
            if room is None:
                out.append((fp, width, height, got, facts))  # the parent normalises it
                continue
            pp.normalize(got, out=np.frombuffer(room[1], np.float32).reshape(pp.input_shape))
            used += pp.input_bytes
            out.append(((fp, width, height, NO_PIXELS, facts), InBlock(room[0], pp.input_bytes, pp.input_shape)))
            continue
        empty = dataclasses.replace(got, data=b"")
        offset = shared_block.write(region, used, got.data) if region is not None else None
        if offset is not None:
            used += len(got.data)
            out.append(((fp, width, height, empty, facts), InBlock(offset, len(got.data))))
        elif region is not None or len(got.data) > SHIP_BYTES:
            out.append((fp, width, height, empty, facts))  # the parent reads it
        else:
            out.append((fp, width, height, got, facts))
    return out


class ProcessDecoder:
    """Worker processes that decode a run's files in chunks, in the order the run will ask for them.

    Why chunks: a task per file cost a round trip through the pool's queues and its parent-side threads
    each time (the measured pool reached half of what its cores could); 16 files a task keep the parent's
    share small. `result` may be called from any thread, in roughly the run's order. With `regions`, the
    workers write bytes and pixels into a shared block (see shared_block): the caller says `done_with` each
    file once nothing it was given for it is in use any more, and the chunk's region is written again.
    """

    def __init__(self, workers: int, stats: list[FileStat], pp: Preprocess, max_pixels: int,
                 regions: int = 0, cpu_wanted: Callable[[], bool] | None = None,
                 region_bytes: int = REGION_BYTES, chunk: int = CHUNK) -> None:
        self.workers = max(1, workers)
        self.chunk = chunk
        self._pool = worker_pool(self.workers)
        self._stats, self._pp, self._max_pixels = stats, pp, max_pixels
        self._cpu_wanted = cpu_wanted  # asked as each chunk is handed out: should its big JPEGs be decoded here
        self._order = {stat.path: i for i, stat in enumerate(stats)}
        self._chunks: dict[int, Future[list[Prepared | str | tuple[Prepared, InBlock]]]] = {}
        self._taken: dict[int, int] = {}
        self._finished: dict[int, int] = {}  # files of a chunk done with, while its region is held
        self._regions: dict[int, int] = {}  # chunk -> its region of the block
        self._next = 0  # the next chunk to hand to the workers
        self._ahead = 2 * self.workers  # chunks queued beyond the one asked for: every worker has the next
        self._lock = threading.Lock()
        self.block: SharedBlock | None = None
        if regions:
            try:
                self.block = SharedBlock(regions, region_bytes)
            except OSError:  # no shared memory to be had: bytes travel through the pipes
                self.block = None

    def result(self, stat: FileStat) -> Prepared:
        """The prepared file (raises ImageUnreadable with the worker's reason)."""
        index = self._order[stat.path]
        chunk = index // self.chunk
        with self._lock:
            while self._next <= chunk + self._ahead and self._next * self.chunk < len(self._stats):
                self._submit(self._next)
                self._next += 1
            future = self._chunks[chunk]
        values = future.result()
        with self._lock:  # the chunk is dropped once each of its files was asked for
            self._taken[chunk] = self._taken.get(chunk, 0) + 1
            if self._taken[chunk] == len(values):
                del self._chunks[chunk], self._taken[chunk]
        value = values[index - chunk * self.chunk]
        if isinstance(value, str):
            raise ImageUnreadable(value)
        if isinstance(value[1], InBlock):
            return self._from_block(*value)
        if isinstance(value[3], np.ndarray):  # a crop through the pipe
            return value[0], value[1], value[2], self._pp.normalize(value[3]), value[4]
        return value

    def done_with(self, stat: FileStat) -> None:
        """Nothing read from the block for this file is used any more (each file once; the run's end closes
        the block whatever is left)."""
        chunk = self._order[stat.path] // self.chunk
        with self._lock:
            if chunk not in self._regions:
                return
            self._finished[chunk] = self._finished.get(chunk, 0) + 1
            if self._finished[chunk] == len(self._stats[chunk * self.chunk:(chunk + 1) * self.chunk]):
                del self._finished[chunk]
                assert self.block is not None
                self.block.give_back(self._regions.pop(chunk))

    def _submit(self, chunk: int) -> None:
        start = chunk * self.chunk
        region = self.block.take() if self.block is not None else None
        where: Region | None = None
        if region is not None and self.block is not None:
            self._regions[chunk] = region
            where = (self.block.path, region, self.block.region_bytes)
        big_here = self._pp.raw_jpeg and self._cpu_wanted is not None and self._cpu_wanted()
        self._chunks[chunk] = self._pool.submit(read_and_crop_many, self._stats[start:start + self.chunk], self._pp,
                                                self._max_pixels, where, big_here)

    def _from_block(self, prepared: Prepared, placed: InBlock) -> Prepared:
        assert self.block is not None
        view = self.block.read(placed.offset, placed.length)
        got = prepared[3]
        if isinstance(got, RawJpeg):
            return prepared[0], prepared[1], prepared[2], RawJpeg(view, got.orientation, got.width, got.height), \
                prepared[4]
        assert placed.shape is not None
        return prepared[0], prepared[1], prepared[2], np.frombuffer(view, np.float32).reshape(placed.shape), \
            prepared[4]

    def warm_up(self) -> None:
        """Start every worker and wait until each has imported what it needs (benchmarks time decoding alone)."""
        for future in [self._pool.submit(_started, 0.2) for _ in range(self.workers)]:
            future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self.block is not None:
            self.block.close()


def start_method() -> multiprocessing.context.BaseContext:
    """How workers start: on Linux, forked from a server process that has already imported this module
    (one interpreter start and one import for the whole pool, and none for the runs after it; safe beside
    threads and CUDA, as the server has neither); `spawn` elsewhere (a fork on macOS can break its system
    libraries). Here (2 cores) 16 workers sent their first file after 144-208 ms instead of 1,118-1,230, and
    closed in 22-25 ms instead of 265-321 (benchmarks/feed.py)."""
    if sys.platform.startswith("linux"):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """Processes as the decode pool's workers are: started as `start_method` says, at the readers' priority,
    keeping the memory they free. For work that must run, and be measured, where decoding runs."""
    return ProcessPoolExecutor(workers, mp_context=start_method(), initializer=_start_worker)


def start_server_early(setting: str, cores: int | None = None) -> threading.Thread | None:
    """Start the fork server now, on a thread of its own, where a run may use worker processes.

    Why: started on a run's first pool, its interpreter start and imports came inside the run: on an H100,
    a first run of 16,384 640x480 JPEGs in a fresh process took 0.35-0.45 s longer in the readers and indexed
    4,772-5,443 a second where later runs, and first runs whose warm-up had started the server, gave
    5,025-6,285 (benchmarks/ingest.py --warm-n). Started while the model loads, it costs the run nothing.
    Returns the thread (None where processes are never used here)."""
    if not sys.platform.startswith("linux") or setting == "threads" or (
            setting != "processes" and (cores or os.cpu_count() or 1) < PROCESS_MIN_CORES):
        return None
    start_method()  # the server's preload is set before it starts
    from multiprocessing import forkserver

    def start() -> None:
        try:
            forkserver.ensure_running()
        except OSError:  # the first pool tries again, and says why if it cannot
            pass

    thread = threading.Thread(target=start, name="clipgit-forkserver-start", daemon=True)
    thread.start()
    return thread


def _started(pause: float) -> int:
    time.sleep(pause)  # held long enough that the next warm-up task goes to another worker
    return os.getpid()


def _start_worker() -> None:
    """A worker runs at the readers' priority (`_nice`) and keeps the memory it frees (`_steady_heap`)."""
    _nice()
    _steady_heap()


def _nice() -> None:
    """Workers run at the decode threads' priority: behind the interface, and behind the threads that feed
    a GPU (at nice 5 they starved them: on an H200 the card then decoded at half its speed)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, max(os.getpriority(os.PRIO_PROCESS, 0), BACKGROUND_NICE))
    except (AttributeError, OSError):
        pass


MMAP_THRESHOLD = 16 << 20  # allocations below this come from the heap (a photo file, its pixels, its floats)
TRIM_THRESHOLD = 32 << 20  # free memory kept at the heap's top before it goes back to the kernel


def _steady_heap() -> None:
    """On glibc, a worker's heap keeps what it frees, so each file's buffers reuse the last file's memory.

    Why: a worker frees and allocates buffers of many sizes for every file, and glibc gave the top of its heap
    back to the kernel again and again and took it back page by page: in a folder that mixes 640x480, 1080p
    and 12 MP JPEGs, 112 page faults a file and 5.35-5.55 ms, against none and 5.17-5.23
    (benchmarks/worker.py). Decode threads were not affected (their arenas kept their memory: 11 faults a
    file). Elsewhere (macOS, musl) this does nothing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD (setting either turns off glibc's own adjustment)
    mallopt(-1, TRIM_THRESHOLD)  # M_TRIM_THRESHOLD
