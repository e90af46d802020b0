"""The catalog upgrades from its first schema, and the vector snapshot is replayed, never trusted blindly."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from clipgit.core.engine import Engine
from clipgit.core.store.catalog import Catalog
from clipgit.core.store.migrations import MIGRATIONS, SCHEMA_VERSION, _split
from clipgit.core.store.vectors import VectorIndex, as_blob
from tests.conftest import make_photos


def _first_schema_catalog(db: Path) -> None:
    """A library as the first release wrote it: schema 1, one folder, two images, two vectors."""
    conn = sqlite3.connect(db, isolation_level=None)
    for statement in _split(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO folders (id, path, added_at) VALUES (1, ?, 1.0)", (b"/pics",))
    for i in (1, 2):
        conn.execute("INSERT INTO images (id, folder_id, path, size, mtime_ns, fingerprint, width, height) "
                     "VALUES (?, 1, ?, 10, 20, ?, 4, 3)", (i, f"/pics/{i}.jpg".encode(), bytes([i]) * 16))
        conn.execute("INSERT INTO embeddings (image_id, model, vector) VALUES (?, 'm', ?)",
                     (i, as_blob(np.full(4, float(i), dtype=np.float32))))
    conn.close()


def test_a_catalog_of_the_first_schema_is_upgraded_and_keeps_its_data(tmp_path: Path) -> None:
    db = tmp_path / "library.db"
    _first_schema_catalog(db)
    cat = Catalog(db)
    assert cat.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [f.path for f in cat.folders()] == ["/pics"]
    assert cat.counts("m")["images"] == 2
    with cat.transaction():
        cat.set_caption(1, "git", "a red bicycle")
    assert cat.search_captions('("bicycle")', "git", 10, None)[0][0] == 1  # the new full-text index works
    cat.close()
    again = Catalog(db)  # opening an up-to-date catalog changes nothing
    assert again.caption_count("git") == 1
    again.close()


def _vectors(tmp_path: Path, n: int) -> tuple[Catalog, VectorIndex]:
    cat = Catalog(tmp_path / "library.db")
    with cat.transaction():
        folder = cat.add_folder("/pics")
        for i in range(n):
            image = cat.upsert_image(folder, f"/pics/{i}.jpg", 1, 1, bytes([i]) * 16, 4, 4, None)
            vec = np.zeros(8, dtype=np.float32)
            vec[i % 8] = 1.0
            vec[(i + 1) % 8] = 0.5 + i / 100
            cat.add_embedding(image, "m", as_blob(vec / np.linalg.norm(vec)))
    return cat, VectorIndex("m", tmp_path)


def test_the_snapshot_replays_removals_and_additions_made_after_it(tmp_path: Path) -> None:
    cat, index = _vectors(tmp_path, 12)
    index.refresh(cat)
    index.save_snapshot()
    query = np.zeros(8, dtype=np.float32)
    query[3] = 1.0
    best = index.top_k(query, 1)[0][0]
    with cat.transaction():
        cat.delete_images([best])  # removed after the snapshot was written
        folder = cat.add_folder("/pics")
        new = cat.upsert_image(folder, "/pics/new.jpg", 1, 1, b"n" * 16, 4, 4, None)
        cat.add_embedding(new, "m", as_blob(query))
    fresh = VectorIndex("m", tmp_path)  # a new process: snapshot first, then what came after it
    fresh.refresh(cat)
    ids = [i for i, _ in fresh.top_k(query, 20)]
    assert ids[0] == new and best not in ids and len(ids) == 12
    cat.close()


def _add_vectors(cat: Catalog, start: int, count: int) -> None:
    """More images and vectors, as another writer commits them."""
    with cat.transaction():
        folder = cat.add_folder("/more")
        for i in range(start, start + count):
            image = cat.upsert_image(folder, f"/more/{i}.jpg", 1, 1, i.to_bytes(16, "big"), 4, 4, None)
            vec = np.zeros(8, dtype=np.float32)
            vec[i % 8], vec[(i + 3) % 8] = 1.0, 0.3
            cat.add_embedding(image, "m", as_blob(vec / np.linalg.norm(vec)))


def test_an_open_mapped_snapshot_takes_appends_and_another_writers_save_without_writing_the_file(
        tmp_path: Path) -> None:
    """The matrix is mapped copy-on-write: rows appended after opening stay in the process, and a save by
    another writer (a new file renamed over the old) leaves every open mapping whole."""
    cat, writer = _vectors(tmp_path, 12)
    writer.refresh(cat)
    writer.save_snapshot()
    reader = VectorIndex("m", tmp_path)  # another process opening the library
    reader.refresh(cat)
    _add_vectors(cat, 100, 5)
    writer.refresh(cat)
    writer.save_snapshot()  # replaces the file the reader has mapped
    snap = next(tmp_path.glob("vectors-*.snap"))
    saved = snap.read_bytes()
    _add_vectors(cat, 200, 3)
    reader.refresh(cat)  # 8 rows appended into its mapping
    assert snap.read_bytes() == saved  # the reader wrote nothing to the file
    assert reader.figures() == cat.vector_stats("m") and reader.rebuilds == 0
    writer.refresh(cat)
    query = np.ones(8, dtype=np.float32) / np.sqrt(8)
    assert reader.top_k(query, 30) == writer.top_k(query, 30) and len(reader.top_k(query, 30)) == 20
    cat.close()


def test_a_snapshot_written_before_spare_rows_is_read_without_a_rebuild(tmp_path: Path) -> None:
    cat, index = _vectors(tmp_path, 12)
    index.refresh(cat)
    index.save_snapshot()
    snap = next(tmp_path.glob("vectors-*.snap"))
    data = snap.read_bytes()
    head = data[:4096].decode().rstrip()
    meta_at = head.index("{")
    meta = json.loads(head[meta_at:])
    del meta["capacity"]  # the earlier format: exactly `count` rows, no spare ones
    old_head = (head[:meta_at] + json.dumps(meta)).encode().ljust(4096, b" ")
    snap.write_bytes(old_head + data[4096:4096 + 12 * 16 + 12 * 8 * 2])
    old = VectorIndex("m", tmp_path)
    old.refresh(cat)
    query = np.ones(8, dtype=np.float32) / np.sqrt(8)
    assert old.rebuilds == 0 and old.top_k(query, 12) == index.top_k(query, 12)
    cat.close()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong-count", "whole-but-wrong"])
def test_a_damaged_snapshot_is_rebuilt_from_the_catalog(tmp_path: Path, damage: str) -> None:
    cat, index = _vectors(tmp_path, 10)
    index.refresh(cat)
    index.save_snapshot()
    query = np.ones(8, dtype=np.float32) / np.sqrt(8)
    expected = index.top_k(query, 10)
    base = next(tmp_path.glob("vectors-*.snap"))
    if damage == "truncate":
        base.write_bytes(base.read_bytes()[:37])
    elif damage == "garbage":
        data = bytearray(base.read_bytes())
        data[20:40] = b"{not json at all...."
        base.write_bytes(bytes(data))
    elif damage == "wrong-count":
        base.write_bytes(base.read_bytes().replace(b'"count": 10', b'"count": 11', 1))
    else:  # a whole file of the right size whose rows are not the catalog's: the first id twice
        data = bytearray(base.read_bytes())
        first = data[4096:4104]
        data[4104:4112] = first
        base.write_bytes(bytes(data))
    rebuilt = VectorIndex("m", tmp_path)
    rebuilt.refresh(cat)
    assert [i for i, _ in rebuilt.top_k(query, 10)] == [i for i, _ in expected]
    assert rebuilt.figures() == cat.vector_stats("m")
    cat.close()


def test_an_image_embedded_again_by_another_writer_is_in_the_vectors_once(tmp_path: Path) -> None:
    """Two index runs embedding the same file both write its vector (INSERT OR REPLACE): the replaced vector's
    removal must reach the matrix, or the image is listed twice for good (the snapshot kept both)."""
    cat, index = _vectors(tmp_path, 10)
    index.refresh(cat)
    index.save_snapshot()
    ids, _ = index.live()
    with cat.transaction():
        for image_id in ids[:4]:
            cat.add_embedding(int(image_id), "m", as_blob(np.ones(8, dtype=np.float32)))
    for fresh in (index, VectorIndex("m", tmp_path)):  # this process, and one opening the snapshot
        fresh.refresh(cat)
        live_ids, _ = fresh.live()
        assert sorted(live_ids.tolist()) == sorted(ids.tolist())
        assert fresh.figures() == cat.vector_stats("m") and fresh.rebuilds == 0
    cat.close()


def test_an_engine_searches_correctly_over_a_damaged_snapshot(engine: Engine, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 6)
    engine.index([str(tmp_path / "pics")])
    before = [r.path for r in engine.search("a photo", top=6)]
    snap = next(engine.settings.data_dir.glob("vectors-*.snap"))
    snap.write_bytes(b"\x00" * 5)
    with Engine(engine.settings) as other:
        assert [r.path for r in other.search("a photo", top=6)] == before


def test_checkpoints_run_beside_the_writer_and_its_own_come_back(tmp_path: Path) -> None:
    """While open, the writer leaves the log to the checkpoint thread (up to a cap); each nudge gets what was
    committed copied; at exit the log is copied whole and the writer checkpoints itself again."""
    from clipgit.core.store.checkpoints import CAP_BYTES, DEFAULT_AUTOCHECKPOINT, Checkpointer

    catalog = Catalog(tmp_path / "catalog.db")
    conn = catalog.conn
    with catalog.transaction():
        folder = catalog.add_folder("/pics")
    with Checkpointer(conn, catalog.db_path) as checkpoints:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == CAP_BYTES // page
        for batch in range(6):
            with catalog.transaction():
                for i in range(50):
                    image = catalog.upsert_image(folder, f"/pics/{batch}-{i}.jpg", 1, 1, bytes(16), 4, 3, None)
                    catalog.add_embedding(image, "m", as_blob(np.random.rand(512).astype(np.float32)))
            checkpoints.nudge()
    assert checkpoints.checkpoints >= 1
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == DEFAULT_AUTOCHECKPOINT
    import shutil

    shutil.copy(tmp_path / "catalog.db", tmp_path / "main-file-only.db")  # without its log: what was copied
    other = sqlite3.connect(tmp_path / "main-file-only.db")
    assert other.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 300
    other.close()
    catalog.close()



@pytest.mark.parametrize("there_already", [[], ["/pics/b.jpg"], ["/pics/c.jpg"]])
def test_a_batch_of_new_images_gets_each_vector_on_its_own_row(tmp_path: Path, there_already: list[str]) -> None:
    """New rows are numbered in order by SQLite, unless a path was there after all (it keeps its id, and the
    ids are looked up): either way each vector lands on its own path's row, in statements split at SQLite's
    limit on parameters."""
    from clipgit.core.store.batch_writes import NewImage

    catalog = Catalog(tmp_path / "catalog.db")
    catalog.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 25)  # two rows a statement
    paths = [f"/pics/{name}.jpg" for name in "abcde"]
    with catalog.transaction():
        folder = catalog.add_folder("/pics")
        for path in ["/pics/zzz.jpg", *there_already]:
            catalog.upsert_image(folder, path, 1, 1, None, None, None, "was broken")
        catalog.delete_images([1])  # the highest id is not always the last one given
        catalog.add_new_images([NewImage(folder, path, 10, 20, bytes([i]) * 16, 4, 3,
                                         as_blob(np.full(4, float(i), dtype=np.float32)), None)
                                for i, path in enumerate(paths)], "m")
    rows = catalog.conn.execute("SELECT i.path, i.fingerprint, i.error, e.vector FROM images i "
                                "JOIN embeddings e ON e.image_id = i.id").fetchall()
    assert len(rows) == 5
    for path, fp, error, vector in rows:
        i = paths.index(path.decode())
        assert fp == bytes([i]) * 16 and error is None and np.frombuffer(vector, np.float32)[0] == i
    catalog.close()


def test_lookups_by_many_ids_split_at_sqlites_limit_with_room_for_their_other_parameters(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.db")
    with catalog.transaction():
        folder = catalog.add_folder("/pics")
        for i in range(10):
            image = catalog.upsert_image(folder, f"/pics/{i}.jpg", 1, 1, None, None, None, None)
            catalog.add_embedding(image, "m", bytes([i]) * 16)
    catalog.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 4)  # one for the model, three ids a statement
    ids = list(range(1, 12))  # the last has no row
    assert catalog.embeddings_for(ids, "m") == {i: bytes([i - 1]) * 16 for i in range(1, 11)}
    assert sorted(catalog.images_by_ids(ids)) == list(range(1, 11))  # no other parameter: four ids a statement
    catalog.close()


def test_new_images_whose_paths_are_all_there_keep_their_rows_after_the_highest_ids_went(tmp_path: Path) -> None:
    """Every path of the batch was there already, and the rows with the highest ids were deleted since: the
    connection's last inserted id then points past the table, and must not be taken for the batch's."""
    from clipgit.core.store.batch_writes import NewImage

    catalog = Catalog(tmp_path / "catalog.db")
    paths = [f"/pics/{i}.jpg" for i in range(5)]
    with catalog.transaction():
        folder = catalog.add_folder("/pics")
        ids = [catalog.upsert_image(folder, path, 1, 1, None, None, None, "was broken") for path in paths]
        extra = [catalog.upsert_image(folder, f"/pics/gone-{i}.jpg", 1, 1, None, None, None, None) for i in range(5)]
        catalog.delete_images(extra)  # the last inserted id is now max(id) + 5: the batch's size
        catalog.add_new_images([NewImage(folder, path, 10, 20, bytes([i]) * 16, 4, 3,
                                         as_blob(np.full(4, float(i), dtype=np.float32)), None)
                                for i, path in enumerate(paths)], "m")
    got = dict(catalog.conn.execute("SELECT image_id, vector FROM embeddings").fetchall())
    assert sorted(got) == ids
    for i, image_id in enumerate(ids):
        assert np.frombuffer(got[image_id], np.float32)[0] == i
    catalog.close()
