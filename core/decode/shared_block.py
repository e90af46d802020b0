"""One block of memory shared with the decode workers, cut into regions a chunk of files is written into.

Why: a worker process that sends a chunk's JPEG bytes (or the model's input)
back through a pipe makes the parent copy and unpickle megabytes with the
GIL held, beside the threads that feed the card; written into shared
memory, they are read in place (nvJPEG takes them from there), and only a
few numbers per file travel through the pipe. The block is a file in
/dev/shm (the temporary folder where there is none) that every process
maps; where its folder is short of space, its space is reserved up front,
so a full tmpfs fails here, cleanly, instead of killing a worker with
SIGBUS on first touch. A region goes back to the free list once
everything read from it has been used.
"""

from __future__ import annotations

import functools
import mmap
import os
import tempfile
import threading
import uuid
from collections import deque

PREFIX = "clipgit-block-"
Region = tuple[str, int, int]  # the block's path, a region's number and the regions' size (what a worker is given)
REGION_BYTES = 4 << 20  # at most, for one chunk's JPEGs: 32 of 640x480 take two fifths (see read_plan.region_bytes)


class SharedBlock:
    """The parent's side: creates the block, hands out free regions, removes the file on close."""

    def __init__(self, regions: int, region_bytes: int = REGION_BYTES) -> None:
        folder = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
        _remove_orphans(folder)
        self.path = os.path.join(folder, f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}")
        self.region_bytes = region_bytes
        size = regions * region_bytes
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            if hasattr(os, "posix_fallocate") and not _room_to_spare(folder, size):
                os.posix_fallocate(fd, 0, size)  # OSError (no space) here, not SIGBUS later
            else:  # pages come as workers first write them (and on macOS, a sparse file on disk)
                os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            os.unlink(self.path)
            raise
        os.close(fd)
        self.view = memoryview(self._map)
        self._free = deque(range(regions))
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """A free region's number, or None when all are in use (the caller then sends bytes the old way)."""
        with self._lock:
            return self._free.popleft() if self._free else None

    def give_back(self, region: int) -> None:
        with self._lock:
            self._free.append(region)

    def read(self, offset: int, length: int) -> memoryview:
        """Bytes a worker wrote, in place (valid until their region is given back and written again)."""
        return self.view[offset:offset + length]

    def close(self) -> None:
        """Removes the file; the memory goes once the last view of it is dropped, on a thread of its own:
        handing hundreds of MB back to the kernel took 30-45 ms at the end of each run here."""
        try:
            os.unlink(self.path)
        except OSError:
            pass
        threading.Thread(target=self._unmap, name="clipgit-unmap", daemon=True).start()

    def _unmap(self) -> None:
        try:
            self.view.release()
            self._map.close()
        except BufferError:  # a view is still held somewhere: the mapping is freed with it
            pass


def _room_to_spare(folder: str, size: int) -> bool:
    """Whether the folder has twice the block's size free: then its space is not reserved up front, which
    cost 55-80 ms of the run's thread for a 220-300 MB block here (the kernel zeroes every page first); the
    workers' first writes take the pages instead, in parallel. Where space is short it is reserved, so a full
    tmpfs fails cleanly here and the run falls back to pipes."""
    try:
        stats = os.statvfs(folder)
    except (AttributeError, OSError):
        return False
    return stats.f_bavail * stats.f_frsize >= 2 * size


def _remove_orphans(folder: str) -> None:
    """Blocks left by runs whose process is gone (killed before it could remove its own): in /dev/shm they
    would hold their memory until the machine restarts."""
    try:
        names = [name for name in os.listdir(folder) if name.startswith(PREFIX)]
    except OSError:
        return
    for name in names:
        pid = name[len(PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive, and not ours to clean up
        return True
    return True


@functools.cache
def attached(path: str) -> memoryview:
    """In a worker: the block, mapped once per process (the file may be gone: then OSError)."""
    fd = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        return memoryview(mmap.mmap(fd, size))
    finally:
        os.close(fd)


def space(region: Region, used: int, length: int) -> tuple[int, memoryview] | None:
    """In a worker: room for `length` bytes in the region after its first `used`: their offset in the block
    and a view to write them through, or None where they do not fit."""
    path, number, region_bytes = region
    if used + length > region_bytes:
        return None
    offset = number * region_bytes + used
    return offset, attached(path)[offset:offset + length]


def write(region: Region, used: int, data: bytes | memoryview) -> int | None:
    """In a worker: `data` copied into the region after its first `used` bytes; its offset in the block, or
    None where it does not fit (it then travels through the pipe)."""
    room = space(region, used, len(data))
    if room is None:
        return None
    room[1][:] = data
    return room[0]
