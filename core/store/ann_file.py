"""The approximate index's files: one per model, written atomically, refused when they cannot be trusted.

Why two files: the index must answer within a second of opening even at 10M vectors (2.6 GB of codes),
so faiss memory-maps its lists instead of reading them, and faiss maps only a file that is nothing but
its own format. So the payload is a plain faiss file under a name no other write uses
(`ann-KEY.idx.PID.TOKEN.faiss`), and the small file `ann-KEY.idx` says which payload is current, with its
length and crc32. The payload is written and flushed first, then the small file under a temp name that
`os.replace` puts in place, so `kill -9` at any moment leaves the previous pair or the new one; payloads
and temp files of writers that are gone are removed by the next writer.

Why the checksum may come after the first answer: reading 2.6 GB to checksum it takes seconds, so the
owner opens without it (`verify=False`) and checks in the background (`verify_payload`). Until then a
damaged payload can only propose wrong candidates, never a wrong score (each is re-scored exactly from
the vector snapshot); what could make faiss read outside its mapping (a wrong length, list sizes that do
not add up) is checked before the first answer. A missing, cut short or foreign small file, another
model or format raises `IndexDamaged`, and the owner rebuilds, answering exactly meanwhile.

Layout of the small file: 8-byte magic, u32 format version, u32 header length, the header as UTF-8 JSON
(the catalog state the index was built from, counts, parameters, and the payload's name, length and
crc32), then a trailer of u32 crc32 of the header and an 8-byte end mark.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from clipgit.core.errors import ClipgitError

MAGIC = b"CGANNIDX"
END_MARK = b"CGANNEND"
FORMAT_VERSION = 2
_PREFIX = struct.Struct("<8sII")
_TRAILER = struct.Struct("<I8s")
_MAX_HEADER = 1 << 24  # a header is a few hundred bytes; a bigger length means a foreign file
_STEP = 1 << 24


class IndexDamaged(ClipgitError):
    """The approximate index cannot be trusted (cut short, foreign, another model or format): rebuild it."""


class IndexMissing(IndexDamaged):
    """No approximate index exists yet for this model: build one."""


def index_path(directory: Path, model: str) -> Path:
    """The index's small file for one model: named by a hash, since a model id may be a path with any
    characters. Its payloads sit beside it under the same name plus `.PID.TOKEN.faiss`."""
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
    """Write a new payload, then put a small file naming it in place in one rename.

    `fill` is given a writer and streams the payload through it. `before_replace` exists for the kill -9
    test: it runs when both new files are complete but the small one is not yet in place.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path)
    payload = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.faiss")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(payload, "wb") as out:
            sink = _Sink(out)
            fill(sink)
            out.flush()
            os.fsync(out.fileno())
        head = json.dumps({**header, "payload": {"name": payload.name, "size": sink.size, "crc": sink.crc}},
                          sort_keys=True).encode("utf-8")
        with open(tmp, "wb") as out:
            out.write(_PREFIX.pack(MAGIC, FORMAT_VERSION, len(head)) + head)
            out.write(_TRAILER.pack(zlib.crc32(head), END_MARK))
            out.flush()
            os.fsync(out.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        for left in (tmp, payload):
            with contextlib.suppress(OSError):
                left.unlink()
        raise
    _fsync_dir(path.parent)
    _remove_orphans(path)  # the previous payload, now named by no small file


def open_mapped(path: Path) -> tuple[dict[str, Any], Path]:
    """The header and the payload file it names, once the small file is whole and the payload has the
    length it says (its checksum is `verify_payload`'s work). A writer that replaces the pair while this
    reads is met by reading the small file again."""
    for attempt in (1, 2):
        header = read_header(path)
        payload = _payload_of(header, path)
        try:
            size = payload.stat().st_size
        except FileNotFoundError:
            if attempt == 1:
                continue  # replaced meanwhile, and the old payload removed: the small file names the new one
            raise IndexDamaged(f"approximate index {path.name} lost its payload: rebuild it") from None
        except OSError as err:
            raise IndexDamaged(f"approximate index {path.name} cannot be read ({err.strerror}): rebuild it") from None
        if size != header["payload"]["size"]:
            raise IndexDamaged(f"approximate index {path.name} is cut short: rebuild it")
        return header, payload
    raise AssertionError("unreachable")


def verify_payload(path: Path, header: dict[str, Any], cancel: Callable[[], bool] = lambda: False) -> None:
    """Raise IndexDamaged unless the payload's checksum is the one the header recorded (a pass over all
    of it: seconds at 10M vectors, so the owner runs it in the background). Returns early when `cancel`."""
    want, got = header["payload"]["crc"], 0
    try:
        with open(path, "rb") as src:
            while chunk := src.read(_STEP):
                if cancel():
                    return
                got = zlib.crc32(chunk, got)
    except OSError as err:
        raise IndexDamaged(f"approximate index {path.name} cannot be read ({err.strerror}): rebuild it") from None
    if got != want:
        raise IndexDamaged(f"approximate index {path.name} fails its checksum: rebuild it")


def read_header(path: Path) -> dict[str, Any]:
    """The small file's header, checked whole (magic, version, length, its checksum): IndexMissing or
    IndexDamaged when it is absent or not an index of this format."""
    name = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IndexMissing(f"no approximate index at {path}: build one") from None
    except OSError as err:
        raise IndexDamaged(f"approximate index {name} cannot be read ({err.strerror}): rebuild it") from None
    if len(raw) < _PREFIX.size:
        raise IndexDamaged(f"approximate index {name} is cut short: rebuild it")
    magic, version, head_len = _PREFIX.unpack_from(raw)
    if magic != MAGIC:
        raise IndexDamaged(f"{name} is not a clipgit approximate index: rebuild it")
    if version != FORMAT_VERSION:
        raise IndexDamaged(f"approximate index {name} has format {version}, this clipgit reads {FORMAT_VERSION}: "
                           "rebuild it")
    if head_len > _MAX_HEADER or len(raw) != _PREFIX.size + head_len + _TRAILER.size:
        raise IndexDamaged(f"approximate index {name} is cut short: rebuild it")
    head = raw[_PREFIX.size:_PREFIX.size + head_len]
    crc, end = _TRAILER.unpack_from(raw, _PREFIX.size + head_len)
    if end != END_MARK or crc != zlib.crc32(head):
        raise IndexDamaged(f"approximate index {name} fails its checksum: rebuild it")
    try:
        header = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict):
        raise IndexDamaged(f"approximate index {name} has an unreadable header: rebuild it")
    _payload_of(header, path)
    return header


def remove_index(path: Path) -> None:
    """The small file and every payload beside it (a library gone back to exact, or a damaged index)."""
    path.unlink(missing_ok=True)
    for payload in path.parent.glob(f"{path.name}.*.faiss"):
        with contextlib.suppress(OSError):
            payload.unlink()


def files_size(path: Path) -> int:
    """Bytes on disk of the small file and the payload it names (0 when there is no index)."""
    try:
        header = read_header(path)
        return path.stat().st_size + _payload_of(header, path).stat().st_size
    except (IndexDamaged, OSError):
        return 0


def _payload_of(header: dict[str, Any], path: Path) -> Path:
    """The payload the header names: a plain name beside the small file, never a path elsewhere."""
    payload = header.get("payload")
    ok = (isinstance(payload, dict) and isinstance(payload.get("name"), str) and isinstance(payload.get("size"), int)
          and isinstance(payload.get("crc"), int))
    if not ok or not payload["name"].startswith(f"{path.name}.") or "/" in payload["name"]:  # type: ignore[index]
        raise IndexDamaged(f"approximate index {path.name} has an unreadable header: rebuild it")
    return path.with_name(payload["name"])  # type: ignore[index]


def _remove_orphans(path: Path) -> None:
    """Temp files and payloads of this index that no small file names and whose writer is gone (killed
    mid-write) or is this process: each may be gigabytes. A live writer's are left to it."""
    try:
        current = _payload_of(read_header(path), path).name
    except IndexDamaged:
        current = None
    leftovers = [(t, t.name[len(path.name) + 2: -len(".tmp")]) for t in path.parent.glob(f".{path.name}.*.tmp")]
    leftovers += [(p, p.name[len(path.name) + 1:].split(".")[0]) for p in path.parent.glob(f"{path.name}.*.faiss")
                  if p.name != current]
    for left, pid_text in leftovers:
        if not pid_text.isdigit():
            continue
        if int(pid_text) != os.getpid():
            try:
                os.kill(int(pid_text), 0)
                continue  # its writer lives
            except ProcessLookupError:
                pass
            except PermissionError:
                continue  # a live process of another user: not ours to touch
        with contextlib.suppress(OSError):
            left.unlink()


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
