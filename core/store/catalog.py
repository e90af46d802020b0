"""The SQLite catalog: folders, images, embeddings, captions, text read in pictures, places.

One connection per thread (sqlite3 connections are not shared); the schema
and its migrations live in migrations.py, the captions' and the read text's
queries in catalog_words.py. Paths are stored as the file system's bytes
(see names.py).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clipgit.core.models.places import Place
from clipgit.core.names import from_db, to_db, within
from clipgit.core.store.batch_writes import NewImage, image_statements, parts, vector_statements
from clipgit.core.store.catalog_words import CatalogWords
from clipgit.core.store.filter_sql import filtered, place_match, under
from clipgit.core.store.migrations import connect
from clipgit.core.store.rows import IMAGE_COLUMNS, PLACE_SET, FolderRow, ImageRow, place_values

__all__ = ["Catalog", "FolderRow", "ImageRow", "place_values"]  # the rows are read from here by most callers


if TYPE_CHECKING:
    from clipgit.core.decode.photo_facts import PhotoFacts
    from clipgit.core.search.filters import Filters


class Catalog(CatalogWords):
    """Queries over one connection; the caller owns transactions via `transaction()`."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.conn = connect(db_path)
        self.conn.create_function("place_match", 6, place_match, deterministic=True)
        self._counts: tuple[tuple[int, int], dict[str, int]] | None = None  # vector_counts, and when

    def close(self) -> None:
        self.conn.close()

    def _where_in(self, sql: str, ids: Iterable[object], *args: object) -> Iterator[tuple[Any, ...]]:
        """Rows of `sql` (whose `{ids}` stands for a list of ids) in chunks SQLite's limits accept."""
        for chunk in parts(self.conn, list(ids), 1, fixed=len(args)):
            yield from self.conn.execute(sql.format(ids=",".join("?" * len(chunk))), [*args, *chunk])

    def transaction(self) -> _Transaction:
        return _Transaction(self.conn)

    # folders -----------------------------------------------------------
    def folders(self) -> list[FolderRow]:
        rows = self.conn.execute("SELECT id, path, added_at, last_scan FROM folders ORDER BY path").fetchall()
        return [FolderRow(r[0], from_db(r[1]), r[2], r[3]) for r in rows]

    def add_folder(self, path: str) -> int:
        """Register `path` (absolute) and fold any library folders inside it into it."""
        existing = self.conn.execute("SELECT id FROM folders WHERE path = ?", (to_db(path),)).fetchone()
        if existing:
            return int(existing[0])
        cur = self.conn.execute("INSERT INTO folders (path, added_at) VALUES (?, ?)", (to_db(path), time.time()))
        folder_id = cur.lastrowid
        assert folder_id is not None
        cond, args = under("path", path)
        inner = self.conn.execute(f"SELECT id FROM folders WHERE {cond} AND id != ?", [*args, folder_id]).fetchall()
        for (inner_id,) in inner:
            self.conn.execute("UPDATE images SET folder_id = ? WHERE folder_id = ?", (folder_id, inner_id))
            self.conn.execute("UPDATE excluded SET folder_id = ? WHERE folder_id = ?", (folder_id, inner_id))
            self.conn.execute("DELETE FROM folders WHERE id = ?", (inner_id,))
        return folder_id

    def folder_containing(self, path: str) -> FolderRow | None:
        for folder in self.folders():
            if within(path, folder.path):
                return folder
        return None

    def remove_folder(self, folder_id: int) -> None:
        self.conn.execute("DELETE FROM folders WHERE id = ?", (folder_id,))

    def exclude(self, path: str, folder_id: int) -> None:
        """Keep `path` (inside library folder `folder_id`) out of that folder's walks (see forgetting.py)."""
        self.conn.execute("INSERT OR IGNORE INTO excluded (path, folder_id, added_at) VALUES (?, ?, ?)",
                          (to_db(path), folder_id, time.time()))

    def excluded(self) -> list[str]:
        return [from_db(r[0]) for r in self.conn.execute("SELECT path FROM excluded ORDER BY path")]

    def lift_exclusion(self, path: str) -> None:
        self.conn.execute("DELETE FROM excluded WHERE path = ?", (to_db(path),))

    def mark_scanned(self, folder_id: int) -> None:
        self.conn.execute("UPDATE folders SET last_scan = ? WHERE id = ?", (time.time(), folder_id))

    # images ------------------------------------------------------------
    def images_under(self, root: str, model: str) -> dict[str, tuple[ImageRow, bool]]:
        """path -> (row, has an embedding for `model`) for every file under `root`."""
        cond, args = under("i.path", root)
        rows = self.conn.execute(
            "SELECT i.id, i.folder_id, i.path, i.size, i.mtime_ns, i.fingerprint, i.width, i.height, i.error, "
            "i.taken, i.taken_from, i.camera, i.gps, i.taken_offset, "
            "e.seq IS NOT NULL FROM images i LEFT JOIN embeddings e ON e.image_id = i.id AND e.model = ? "
            f"WHERE {cond}",
            [model, *args],
        )
        return {from_db(r[2]): (ImageRow(r[0], r[1], from_db(r[2]), *r[3:14]), bool(r[14])) for r in rows}

    def image_by_path(self, path: str) -> ImageRow | None:
        r = self.conn.execute(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE path = ?",
            (to_db(path),),
        ).fetchone()
        return ImageRow(r[0], r[1], from_db(r[2]), *r[3:]) if r else None

    def images_by_ids(self, ids: Iterable[int]) -> dict[int, ImageRow]:
        rows = self._where_in(f"SELECT {IMAGE_COLUMNS} FROM images WHERE id IN ({{ids}})", ids)
        return {r[0]: ImageRow(r[0], r[1], from_db(r[2]), *r[3:]) for r in rows}

    def vector_counts(self) -> dict[str, int]:
        """How many vectors the library holds for each model (remembered until the database changes: every
        search asks, and counting 100,000 rows takes milliseconds)."""
        version = (self.conn.execute("PRAGMA data_version").fetchone()[0], self.conn.total_changes)
        if self._counts is None or self._counts[0] != version:
            counts = {m: n for m, n in self.conn.execute("SELECT model, count(*) FROM embeddings GROUP BY model")}
            self._counts = (version, counts)
        return dict(self._counts[1])

    def filtered_ids(self, filters: Filters, model: str) -> list[int]:
        """Images with a vector of `model` that pass the filters."""
        cond, args = filtered("i", filters)
        return [r[0] for r in self.conn.execute(
            "SELECT i.id FROM images i JOIN embeddings e ON e.image_id = i.id AND e.model = ? "
            f"WHERE {cond}", [model, *args])]

    def count_filtered(self, filters: Filters, model: str) -> int:
        """How many images with a vector of `model` pass the filters (a results line's "100 of 800")."""
        cond, args = filtered("i", filters)
        row = self.conn.execute("SELECT count(*) FROM images i JOIN embeddings e ON e.image_id = i.id "
                                f"AND e.model = ? WHERE {cond}", [model, *args]).fetchone()
        return int(row[0])

    def browse(self, filters: Filters, model: str, limit: int) -> list[int]:
        """Images that pass the filters, newest capture first (filters with no words to search for)."""
        cond, args = filtered("i", filters)
        return [r[0] for r in self.conn.execute(
            "SELECT i.id FROM images i JOIN embeddings e ON e.image_id = i.id AND e.model = ? "
            f"WHERE {cond} ORDER BY i.taken IS NULL, i.taken DESC, i.path LIMIT ?", [model, *args, limit])]

    def ids_under(self, root: str) -> list[int]:
        cond, args = under("path", root)
        return [r[0] for r in self.conn.execute(f"SELECT id FROM images WHERE {cond}", args)]

    def upsert_image(self, folder_id: int, path: str, size: int, mtime_ns: int, fingerprint: bytes | None,
                     width: int | None, height: int | None, error: str | None) -> int:
        """Insert or replace the row for `path`; a changed file loses its old embeddings."""
        row = self.conn.execute("SELECT id, fingerprint FROM images WHERE path = ?", (to_db(path),)).fetchone()
        if row is None:
            cur = self.conn.execute(
                "INSERT INTO images (folder_id, path, size, mtime_ns, fingerprint, width, height, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (folder_id, to_db(path), size, mtime_ns, fingerprint, width, height, error),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid
        image_id, old_fp = row
        if old_fp != fingerprint:  # new content: what was computed from the old one is stale (and its text: a
            self.conn.execute("DELETE FROM embeddings WHERE image_id = ?", (image_id,))  # trigger, migration 7)
            self.conn.execute("DELETE FROM captions WHERE image_id = ?", (image_id,))
        self.conn.execute(
            "UPDATE images SET folder_id=?, size=?, mtime_ns=?, fingerprint=?, width=?, height=?, error=? WHERE id=?",
            (folder_id, size, mtime_ns, fingerprint, width, height, error, image_id),
        )
        return int(image_id)

    def add_new_images(self, rows: Sequence[NewImage], model: str) -> None:
        """Files the catalog has not seen, each with its vector and facts: a few statements for a whole batch.

        Why: four statements an image (look up, insert, vector, facts) took half of an index run's main thread
        at thousands of images a second. And why multi-row statements, not `executemany`: SQLite gives up the
        GIL at every step, once a row there, and waits for it back each time; beside one busy Python thread
        (the threads that feed a card) batches of 512 then took 11 ms a row here, and these statements 0.08
        (benchmarks/commit.py). A path that is there after all is updated in place.
        """
        if not rows:
            return
        conn = self.conn
        first = conn.execute("SELECT coalesce(max(id), 0) FROM images").fetchone()[0] + 1
        for sql, args in image_statements(conn, rows):
            conn.execute(sql, args)
        inserted = conn.execute("SELECT count(*) FROM images WHERE id >= ?", (first,)).fetchone()[0]
        if inserted == len(rows):  # each one inserted, none updated: SQLite numbered them in order from `first`
            ids = list(range(first, first + len(rows)))
        else:  # a path that was there after all kept its id
            paths = [to_db(r.path) for r in rows]
            sql = "SELECT id, path FROM images WHERE path IN ({ids})"
            found = {p: i for i, p in self._where_in(sql, paths)}
            ids = [found[p] for p in paths]
        for sql, args in vector_statements(conn, ids, rows, model):
            conn.execute(sql, args)

    def set_facts(self, image_id: int, facts: PhotoFacts, place: Place | None = None) -> None:
        self.conn.execute(
            "UPDATE images SET taken = ?, taken_from = ?, camera = ?, gps = ?, taken_offset = ?, "
            f"{PLACE_SET} WHERE id = ?",
            (facts.taken, facts.taken_from, facts.camera, int(facts.gps), facts.taken_offset, *place_values(place),
             image_id))

    def set_places_by_path(self, places: Sequence[tuple[str, Place]]) -> None:
        """Places of images just added (by `add_new_images`, which writes no place: most photos have none)."""
        self.conn.executemany(f"UPDATE images SET {PLACE_SET} WHERE path = ?",
                              [(*place_values(place), to_db(path)) for path, place in places])

    def place_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM images WHERE place_cc IS NOT NULL").fetchone()[0])

    def touch_image(self, image_id: int, size: int, mtime_ns: int) -> None:
        self.conn.execute("UPDATE images SET size = ?, mtime_ns = ? WHERE id = ?", (size, mtime_ns, image_id))

    def move_image(self, image_id: int, folder_id: int, new_path: str, size: int, mtime_ns: int) -> None:
        self.conn.execute("DELETE FROM images WHERE path = ? AND id != ?", (to_db(new_path), image_id))
        self.conn.execute(
            "UPDATE images SET folder_id = ?, path = ?, size = ?, mtime_ns = ? WHERE id = ?",
            (folder_id, to_db(new_path), size, mtime_ns, image_id),
        )

    def delete_images(self, ids: Iterable[int]) -> None:
        self.conn.executemany("DELETE FROM images WHERE id = ?", ((i,) for i in ids))

    def skipped_under(self, root: str) -> list[tuple[str, str]]:
        cond, args = under("path", root)
        rows = self.conn.execute(f"SELECT path, error FROM images WHERE error IS NOT NULL AND {cond} ORDER BY path",
                                 args)
        return [(from_db(p), e) for p, e in rows]

    # embeddings --------------------------------------------------------
    def add_embedding(self, image_id: int, model: str, vector: bytes) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO embeddings (image_id, model, vector) VALUES (?, ?, ?)", (image_id, model, vector)
        )

    def embedding(self, image_id: int, model: str) -> bytes | None:
        row = self.conn.execute(
            "SELECT vector FROM embeddings WHERE image_id = ? AND model = ?", (image_id, model)
        ).fetchone()
        return row[0] if row else None

    def embeddings_for(self, ids: list[int], model: str) -> dict[int, bytes]:
        sql = "SELECT image_id, vector FROM embeddings WHERE model = ? AND image_id IN ({ids})"
        return {r[0]: r[1] for r in self._where_in(sql, ids, model)}

    def embeddings_after(self, model: str, seq: int) -> sqlite3.Cursor:
        """(seq, image_id, vector) rows newer than `seq`, oldest first."""
        return self.conn.execute(
            "SELECT seq, image_id, vector FROM embeddings WHERE model = ? AND seq > ? ORDER BY seq", (model, seq)
        )

    def vector_stats(self, model: str) -> tuple[int, int, int]:
        """(count, sum of ids, sum of id hashes) of the model's embeddings, kept by triggers: what a vector
        snapshot is checked against (see store.vector_check)."""
        row = self.conn.execute("SELECT count, idsum, idhash FROM vector_stats WHERE model = ?", (model,)).fetchone()
        return (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)

    def read(self) -> _Read:
        """A read transaction: the statements inside see one state of the catalog, whatever other writers
        commit meanwhile (WAL)."""
        return _Read(self.conn)

    def last_removal(self, model: str) -> int:
        row = self.conn.execute("SELECT max(seq) FROM removals WHERE model = ?", (model,)).fetchone()
        return int(row[0] or 0)

    def removals_after(self, model: str, seq: int) -> list[tuple[int, int]]:
        return self.conn.execute(
            "SELECT seq, embedding_seq FROM removals WHERE model = ? AND seq > ? ORDER BY seq", (model, seq)
        ).fetchall()

    # counts ------------------------------------------------------------
    def counts(self, model: str) -> dict[str, int]:
        c = self.conn
        return {
            "files": c.execute("SELECT count(*) FROM images").fetchone()[0],
            "skipped": c.execute("SELECT count(*) FROM images WHERE error IS NOT NULL").fetchone()[0],
            "images": c.execute("SELECT count(*) FROM embeddings WHERE model = ?", (model,)).fetchone()[0],
        }

    def folder_counts(self, model: str) -> dict[int, tuple[int, int, int]]:
        """folder id -> (images embedded for `model`, files skipped, readable files with no vector of `model`)."""
        rows = self.conn.execute(
            "SELECT i.folder_id, count(e.seq), sum(i.error IS NOT NULL), "
            "sum(i.error IS NULL AND e.seq IS NULL) FROM images i "
            "LEFT JOIN embeddings e ON e.image_id = i.id AND e.model = ? GROUP BY i.folder_id",
            (model,),
        )
        return {r[0]: (r[1], r[2] or 0, r[3] or 0) for r in rows}


class _Read:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.began = False

    def __enter__(self) -> sqlite3.Connection:
        if not self.conn.in_transaction:  # inside a caller's transaction, that one is the snapshot
            self.conn.execute("BEGIN")
            self.began = True
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self.began:
            self.conn.execute("COMMIT")


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")

