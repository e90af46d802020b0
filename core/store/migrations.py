"""The catalog's schema: `PRAGMA user_version` plus stepwise migrations (as rclip does).

WAL mode, so `status` can read while another process indexes; each migration
runs in one transaction, and a second process racing to migrate waits and
then finds the work done.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from clipgit.core.errors import ClipgitError, ConfigError

# SQLite 3.34+ tokenizes by trigrams: a quoted string matches anywhere inside the text, as `text:` wants. Without
# it there is no index and `text:` scans the folded text (catalog.search_text).
_HAS_TRIGRAM = sqlite3.sqlite_version_info >= (3, 34, 0)
_OCR_FTS = """
    CREATE VIRTUAL TABLE ocr_fts USING fts5(folded, content='ocr_texts', content_rowid='id', tokenize='trigram');
    CREATE TRIGGER ocr_texts_ai AFTER INSERT ON ocr_texts BEGIN
        INSERT INTO ocr_fts (rowid, folded) VALUES (new.id, new.folded);
    END;
    CREATE TRIGGER ocr_texts_ad AFTER DELETE ON ocr_texts BEGIN
        INSERT INTO ocr_fts (ocr_fts, rowid, folded) VALUES ('delete', old.id, old.folded);
    END;
    CREATE TRIGGER ocr_texts_au AFTER UPDATE ON ocr_texts BEGIN
        INSERT INTO ocr_fts (ocr_fts, rowid, folded) VALUES ('delete', old.id, old.folded);
        INSERT INTO ocr_fts (rowid, folded) VALUES (new.id, new.folded);
    END;
"""

MIGRATIONS: list[str] = [
    # 1: folders, images, embeddings, and a log of removed embeddings so an
    #    in-memory vector matrix can catch up without reloading everything.
    """
    CREATE TABLE folders (
        id INTEGER PRIMARY KEY,
        path BLOB NOT NULL UNIQUE,
        added_at REAL NOT NULL,
        last_scan REAL
    );
    CREATE TABLE images (
        id INTEGER PRIMARY KEY,
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        path BLOB NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        fingerprint BLOB,
        width INTEGER,
        height INTEGER,
        error TEXT
    );
    CREATE INDEX images_folder ON images(folder_id);
    CREATE INDEX images_fingerprint ON images(fingerprint);
    CREATE TABLE embeddings (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        vector BLOB NOT NULL,
        UNIQUE (image_id, model)
    );
    CREATE INDEX embeddings_model_seq ON embeddings(model, seq);
    CREATE TABLE removals (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        model TEXT NOT NULL,
        embedding_seq INTEGER NOT NULL
    );
    CREATE INDEX removals_model_seq ON removals(model, seq);
    CREATE TRIGGER embeddings_removed AFTER DELETE ON embeddings BEGIN
        INSERT INTO removals (model, embedding_seq) VALUES (old.model, old.seq);
    END;
    """,
    # 2: captions per (image, caption model), with a full-text index over them.
    """
    CREATE TABLE captions (
        id INTEGER PRIMARY KEY,
        image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        caption TEXT NOT NULL,
        created REAL NOT NULL,
        UNIQUE (image_id, model)
    );
    CREATE VIRTUAL TABLE captions_fts USING fts5(caption, content='captions', content_rowid='id');
    CREATE TRIGGER captions_ai AFTER INSERT ON captions BEGIN
        INSERT INTO captions_fts (rowid, caption) VALUES (new.id, new.caption);
    END;
    CREATE TRIGGER captions_ad AFTER DELETE ON captions BEGIN
        INSERT INTO captions_fts (captions_fts, rowid, caption) VALUES ('delete', old.id, old.caption);
    END;
    CREATE TRIGGER captions_au AFTER UPDATE ON captions BEGIN
        INSERT INTO captions_fts (captions_fts, rowid, caption) VALUES ('delete', old.id, old.caption);
        INSERT INTO captions_fts (rowid, caption) VALUES (new.id, new.caption);
    END;
    """,
    # 3: what a photo says about itself (capture date, camera, GPS). NULL until the file is next read: an
    #    existing library fills them in on its next rescan, without embedding anything again.
    """
    ALTER TABLE images ADD COLUMN taken REAL;
    ALTER TABLE images ADD COLUMN taken_from TEXT;
    ALTER TABLE images ADD COLUMN camera TEXT;
    ALTER TABLE images ADD COLUMN gps INTEGER;
    CREATE INDEX images_taken ON images(taken);
    """,
    # 4: paths forgotten inside a library folder, which its walks leave out until they are indexed again.
    """
    CREATE TABLE excluded (
        path BLOB PRIMARY KEY,
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        added_at REAL NOT NULL
    );
    """,
    # 5: the offset of the clock a photo was taken by (minutes east of UTC, see photo_facts.PhotoFacts): a
    #    photo's time is the local time where it was taken. EXIF-dated rows had dropped theirs: forgetting
    #    their taken_from has the next rescan read their facts again (indexer._classify), without embedding.
    """
    ALTER TABLE images ADD COLUMN taken_offset INTEGER;
    UPDATE images SET taken_from = NULL WHERE taken_from LIKE 'exif%';
    """,
    # 6: the count and two checksums of each model's embedded image ids, kept by triggers, so a vector
    #    snapshot can be checked against the catalog when it is opened without reading every row.
    #    (REPLACE deletes fire the removal trigger only with recursive_triggers on: connect() sets it. Before,
    #    an image embedded twice by two writers left its old vector alive in the snapshot. No OR IGNORE in the
    #    trigger: the outer INSERT OR REPLACE's policy would override it and reset the row.)
    """
    CREATE TABLE vector_stats (
        model TEXT PRIMARY KEY,
        count INTEGER NOT NULL,
        idsum INTEGER NOT NULL,
        idhash INTEGER NOT NULL
    );
    INSERT INTO vector_stats (model, count, idsum, idhash)
        SELECT model, count(*), sum(image_id), sum((image_id * 2654435761) % 4294967296) FROM embeddings
        GROUP BY model;
    CREATE TRIGGER embeddings_stats_add AFTER INSERT ON embeddings BEGIN
        INSERT INTO vector_stats (model, count, idsum, idhash) SELECT new.model, 0, 0, 0
            WHERE NOT EXISTS (SELECT 1 FROM vector_stats WHERE model = new.model);
        UPDATE vector_stats SET count = count + 1, idsum = idsum + new.image_id,
            idhash = idhash + (new.image_id * 2654435761) % 4294967296 WHERE model = new.model;
    END;
    CREATE TRIGGER embeddings_stats_remove AFTER DELETE ON embeddings BEGIN
        UPDATE vector_stats SET count = count - 1, idsum = idsum - old.image_id,
            idhash = idhash - (old.image_id * 2654435761) % 4294967296 WHERE model = old.model;
    END;
    """,
    # 7: words and places. Text read in pictures per (image, OCR model), with the folded text (fold.fold: any case,
    #    accents ignored) in a trigram full-text index, so `text:` finds a word inside a longer token; a file whose
    #    content changes loses its text (trigger). Each photo's place from its EXIF GPS; photos known to have a
    #    position have their facts read again on the next rescan (indexer._classify), without embedding.
    f"""
    CREATE TABLE ocr_texts (
        id INTEGER PRIMARY KEY,
        image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        text TEXT NOT NULL,
        lines TEXT NOT NULL,
        folded TEXT NOT NULL,
        created REAL NOT NULL,
        UNIQUE (image_id, model)
    );
    CREATE TRIGGER ocr_texts_stale AFTER UPDATE OF fingerprint ON images
        WHEN old.fingerprint IS NOT new.fingerprint BEGIN
        DELETE FROM ocr_texts WHERE image_id = new.id;
    END;
    {_OCR_FTS if _HAS_TRIGRAM else ""}
    ALTER TABLE images ADD COLUMN place_city TEXT;
    ALTER TABLE images ADD COLUMN place_locality TEXT;
    ALTER TABLE images ADD COLUMN place_region TEXT;
    ALTER TABLE images ADD COLUMN place_country TEXT;
    ALTER TABLE images ADD COLUMN place_cc TEXT;
    ALTER TABLE images ADD COLUMN place_lat REAL;
    ALTER TABLE images ADD COLUMN place_lon REAL;
    CREATE INDEX images_place_cc ON images(place_cc);
    UPDATE images SET taken_from = NULL WHERE gps = 1;
    """,
    # 8: a place's coordinates are the photo's own (they were the named town's), and `gps` says a usable position
    # (it said GPS tags, void or malformed ones too): photos with GPS tags are read again on the next rescan,
    # their header only, nothing embedded again
    """
    UPDATE images SET taken_from = NULL WHERE gps = 1;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def connect(db_path: Path) -> sqlite3.Connection:
    """Open (creating and migrating if needed) the catalog for this thread.

    check_same_thread is off only so a finished thread's connection can be
    closed by another; each connection is used by one thread at a time.
    """
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(db_path, timeout=30.0, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"cannot open the library {db_path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA recursive_triggers=ON")  # a REPLACE's delete logs the removal (migration 6)
        migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if "not a database" in str(exc) or "malformed" in str(exc):
            raise ClipgitError(f"the library {db_path} is damaged ({exc}): move it away and index your folders "
                               "again (a new library is made; the photos are not touched)") from None
        raise ClipgitError(f"cannot open the library {db_path}: {exc}") from None
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version >= SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
        for number in range(version, SCHEMA_VERSION):
            for statement in _split(MIGRATIONS[number]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _split(script: str) -> Iterator[str]:
    """Statements of a migration; triggers keep their inner semicolons."""
    buf = ""
    for line in script.strip().splitlines():
        buf += line + "\n"
        if sqlite3.complete_statement(buf):
            yield buf.strip()
            buf = ""


