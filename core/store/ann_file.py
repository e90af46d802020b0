"""The approximate index's file: one per model, written atomically, refused when it cannot be trusted.

Why so careful: the index is derived data, so a damaged one must never answer. A file that is missing,
cut short, written by another program, for another model or by another format version raises
`IndexDamaged`, and the owner rebuilds (answering exactly meanwhile). The payload's length and crc32
are checked in a first streaming pass before faiss reads a byte of it, because faiss given a damaged
stream may misread rather than raise. Writing goes to a temp file beside the target and `os.replace`s
it, so `kill -9` at any moment leaves either the previous file or the new one, never half of one; temp
files left by a killed writer are removed by the next writer.

The payload streams in and out (no second copy of a 2.6 GB index in memory), so its length and checksum
go in a trailer. Layout: 8-byte magic, u32 format version, u32 header length, the header as UTF-8 JSON
(the catalog state the index was built from, counts, parameters), the payload, then a trailer of u64
payload length, u32 crc32 and an 8-byte end mark.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from clipgit.core.errors import ClipgitError

MAGIC = b"CGANNIDX"
END_MARK = b"CGANNEND"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sII")
_TRAILER = struct.Struct("<QI8s")
_MAX_HEADER = 1 << 24  # a header is a few hundred bytes; a bigger length means a foreign file
_STEP = 1 << 24


class IndexDamaged(ClipgitError):
    """The approximate index file cannot be trusted (cut short, foreign, another model or format): rebuild it."""


class IndexMissing(IndexDamaged):
    """No approximate index file exists yet for this model: build one."""


def index_path(directory: Path, model: str) -> Path:
    """The index file of one model: named by a hash, since a model id may be a path with any characters."""
    key = hashlib.sha1(model.encode("utf-8")).hexdigest()[:16]
    return directory / f"ann-{key}.idx"


class _Sink:
    """Counts and checksums the payload as it streams to the file."""

    def __init__(self, out: BinaryIO) -> None:
        self.out, self.size, self.crc = out, 0, 0

    def __call__(self, chunk: bytes) -> int:
        self.out.write(chunk)
        self.size += len(chunk)
        self.crc = zlib.crc32(chunk, self.crc)
        return len(chunk)


def write_atomic(path: Path, header: dict[str, Any], fill: Callable[[Callable[[bytes], int]], None],
                 before_replace: Callable[[], None] | None = None) -> None:
    """Write the file under a temp name, flush it to disk, then put it in place in one rename.

    `fill` is given a writer and streams the payload through it. `before_replace` exists for the kill -9
    test: it runs when the new file is complete but not yet in place.
    """
    head = json.dumps(header, sort_keys=True).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(_PREFIX.pack(MAGIC, FORMAT_VERSION, len(head)))
            out.write(head)
            sink = _Sink(out)
            fill(sink)
            out.write(_TRAILER.pack(sink.size, sink.crc, END_MARK))
            out.flush()
            os.fsync(out.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


@contextlib.contextmanager
def open_checked(path: Path) -> Iterator[tuple[dict[str, Any], Callable[[int], bytes]]]:
    """The header and a reader of the payload, once magic, version, length and checksum all agree.

    The open file is read twice (checksum, then the caller's read) through one descriptor, so a writer
    replacing the file meanwhile cannot mix two versions.
    """
    try:
        src = open(path, "rb")  # noqa: SIM115 (closed below, after the caller's read)
    except FileNotFoundError:
        raise IndexMissing(f"no approximate index at {path}: build one") from None
    except OSError as err:
        raise IndexDamaged(f"approximate index {path.name} cannot be opened ({err.strerror}): rebuild it") from None
    with src:
        try:
            header, start, size = _check(src, path)
            src.seek(start)
        except OSError as err:
            raise IndexDamaged(f"approximate index {path.name} cannot be read ({err.strerror}): rebuild it") from None
        left = [size]

        def read(n: int) -> bytes:
            want = min(n, left[0])
            chunk = src.read(want)
            left[0] -= len(chunk)
            if len(chunk) != want:
                raise IndexDamaged(f"approximate index {path.name} changed while being read: rebuild it")
            return chunk

        yield header, read


def read_header(path: Path) -> dict[str, Any]:
    """The header alone (what `status` shows), without the checksum pass over the payload: IndexMissing
    or IndexDamaged when the file is absent or not an index of this format."""
    try:
        with open(path, "rb") as src:
            prefix = src.read(_PREFIX.size)
            if len(prefix) < _PREFIX.size:
                raise IndexDamaged(f"approximate index {path.name} is cut short: rebuild it")
            magic, version, head_len = _PREFIX.unpack(prefix)
            if magic != MAGIC or version != FORMAT_VERSION or head_len > _MAX_HEADER:
                raise IndexDamaged(f"{path.name} is not a clipgit approximate index of format {FORMAT_VERSION}")
            return _parse_header(src.read(head_len), path.name)
    except FileNotFoundError:
        raise IndexMissing(f"no approximate index at {path}: build one") from None


def _check(src: BinaryIO, path: Path) -> tuple[dict[str, Any], int, int]:
    name = path.name
    total = os.fstat(src.fileno()).st_size
    prefix = src.read(_PREFIX.size)
    if len(prefix) < _PREFIX.size:
        raise IndexDamaged(f"approximate index {name} is cut short: rebuild it")
    magic, version, head_len = _PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise IndexDamaged(f"{name} is not a clipgit approximate index: rebuild it")
    if version != FORMAT_VERSION:
        raise IndexDamaged(f"approximate index {name} has format {version}, this clipgit reads {FORMAT_VERSION}: "
                           "rebuild it")
    start = _PREFIX.size + head_len
    if head_len > _MAX_HEADER or start + _TRAILER.size > total:
        raise IndexDamaged(f"approximate index {name} is cut short: rebuild it")
    header = _parse_header(src.read(head_len), name)
    src.seek(total - _TRAILER.size)
    size, crc, end = _TRAILER.unpack(src.read(_TRAILER.size))
    if end != END_MARK or start + size + _TRAILER.size != total:
        raise IndexDamaged(f"approximate index {name} is cut short: rebuild it")
    src.seek(start)
    got, left = 0, size
    while left:
        chunk = src.read(min(_STEP, left))
        if not chunk:
            raise IndexDamaged(f"approximate index {name} is cut short: rebuild it")
        got = zlib.crc32(chunk, got)
        left -= len(chunk)
    if got != crc:
        raise IndexDamaged(f"approximate index {name} fails its checksum: rebuild it")
    return header, start, size


def _parse_header(raw: bytes, name: str) -> dict[str, Any]:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise IndexDamaged(f"approximate index {name} has an unreadable header: rebuild it") from None
    if not isinstance(header, dict):
        raise IndexDamaged(f"approximate index {name} has an unreadable header: rebuild it")
    return header


def _remove_orphans(path: Path) -> None:
    """Temp files of this target whose writer is gone (killed mid-write): each may be gigabytes."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid_text = tmp.name[len(path.name) + 2: -len(".tmp")]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                tmp.unlink()
        except PermissionError:
            pass  # a live process of another user: not ours to touch


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (a crash of the machine, not only of the process)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
