"""The statements that write a batch of new images: their rows, then their vectors, many rows a statement.

Why its own file: the catalog runs them for an index run's batches (`Catalog.add_new_images`), and
benchmarks/commit.py times the very same statements, built beforehand, as its limit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from clipgit.core.names import to_db

if TYPE_CHECKING:
    from clipgit.core.decode.photo_facts import PhotoFacts

T = TypeVar("T")
Statement = tuple[str, list[object]]


@dataclass(frozen=True)
class NewImage:
    """A file the catalog has not seen, embedded: what `add_new_images` writes."""

    folder_id: int
    path: str
    size: int
    mtime_ns: int
    fingerprint: bytes | None
    width: int | None
    height: int | None
    vector: bytes
    facts: PhotoFacts | None


NEW_IMAGE_PARAMS = 12
NEW_IMAGE_VALUES = "(?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)"
INSERT_NEW_IMAGES = (
    "INSERT INTO images (folder_id, path, size, mtime_ns, fingerprint, width, height, error, taken, taken_from, "
    "camera, gps, taken_offset) VALUES {values} ON CONFLICT(path) DO UPDATE SET folder_id=excluded.folder_id, "
    "size=excluded.size, mtime_ns=excluded.mtime_ns, fingerprint=excluded.fingerprint, width=excluded.width, "
    "height=excluded.height, error=NULL, taken=excluded.taken, taken_from=excluded.taken_from, "
    "camera=excluded.camera, gps=excluded.gps, taken_offset=excluded.taken_offset")


def new_image_values(r: NewImage) -> tuple[object, ...]:
    """The `NEW_IMAGE_PARAMS` values of one row of `INSERT_NEW_IMAGES`."""
    f = r.facts
    return (r.folder_id, to_db(r.path), r.size, r.mtime_ns, r.fingerprint, r.width, r.height,
            *((f.taken, f.taken_from, f.camera, int(f.gps), f.taken_offset) if f else (None,) * 5))


def image_statements(conn: sqlite3.Connection, rows: Sequence[NewImage]) -> Iterator[Statement]:
    """The rows' inserts (a path that is there already is updated in place)."""
    for part in parts(conn, rows, NEW_IMAGE_PARAMS):
        args: list[object] = []
        for r in part:
            args += new_image_values(r)
        yield INSERT_NEW_IMAGES.format(values=",".join([NEW_IMAGE_VALUES] * len(part))), args


def vector_statements(conn: sqlite3.Connection, ids: Iterable[int], rows: Sequence[NewImage],
                      model: str) -> Iterator[Statement]:
    """Each row's vector under the image id given for it."""
    for pairs in parts(conn, list(zip(ids, rows)), 3):
        args: list[object] = []
        for image_id, r in pairs:
            args += (image_id, model, r.vector)
        yield "INSERT OR REPLACE INTO embeddings (image_id, model, vector) VALUES " + ",".join(
            ["(?, ?, ?)"] * len(pairs)), args


def parts(conn: sqlite3.Connection, items: Sequence[T], params: int, fixed: int = 0) -> Iterator[Sequence[T]]:
    """`items` in runs that one statement of `params` parameters a row (and `fixed` more) may bind (SQLite
    allows 32,766 since 3.32, and 999 before)."""
    step = max(1, (conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - fixed) // params)
    for start in range(0, len(items), step):
        yield items[start:start + step]
