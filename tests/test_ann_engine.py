"""The approximate index behind the engine's search, with the crossover lowered to a few hundred images.

The library is a catalog filled with synthetic vectors (clustered, as in tests/test_ann.py), in folders of
several sizes, so filters of several selectivities exist; every answer is checked against brute force over
the catalog's own vectors. No model is needed: queries are vectors (`Engine.search_vector`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from clipgit.core.config import Settings
from clipgit.core.engine import Engine
from clipgit.core.search.searcher import SearchResult
from clipgit.core.store.ann import AnnIndex, AnnSettings
from clipgit.core.store.ann_file import index_path
from clipgit.core.store.catalog import Catalog
from clipgit.core.store.vectors import as_blob, from_blob
from tests.conftest import cli_path, library_problems
from tests.helpers import DIM, unit, world

N = 3_000
CROSSOVER = 500
FOLDERS = {"tiny": 0.002, "small": 0.01, "mid": 0.1, "half": 0.5}  # share of the library in each
MODEL = "synthetic"
Lib = tuple[Settings, np.ndarray, np.ndarray]


def fill(data_dir: Path, vectors: np.ndarray, start: int = 0, folder_of: list[str] | None = None) -> list[int]:
    """Images /lib/<folder>/<n>.jpg with these vectors, written as another process would: its own catalog."""
    cat = Catalog(data_dir / "library.db")
    names = folder_of or _folders(len(vectors), start)
    ids = []
    with cat.transaction():
        root = cat.add_folder("/lib")
        for k, (vec, folder) in enumerate(zip(vectors, names)):
            fingerprint = (start + k).to_bytes(16, "big")
            image = cat.upsert_image(root, f"/lib/{folder}/{start + k}.jpg", 1000 + k, 1, fingerprint, 64, 64, None)
            cat.add_embedding(image, MODEL, as_blob(vec))
            ids.append(image)
    cat.close()
    return ids


def _folders(n: int, start: int) -> list[str]:
    rng = np.random.default_rng(start + 1)
    draws = rng.random(n)
    names = []
    for d in draws:
        edge, name = 0.0, "rest"
        for folder, share in FOLDERS.items():
            if edge <= d < edge + share:
                name = folder
            edge += share
        names.append(name)
    return names


def remove(data_dir: Path, ids: list[int]) -> None:
    cat = Catalog(data_dir / "library.db")
    with cat.transaction():
        cat.delete_images(ids)
    cat.close()


def truth(data_dir: Path, q: np.ndarray, k: int, folder: str | None = None) -> list[int]:
    """The exact best k by the catalog's float32 vectors (what the engine's re-rank orders by)."""
    cat = Catalog(data_dir / "library.db")
    rows = cat.conn.execute("SELECT e.image_id, e.vector, i.path FROM embeddings e JOIN images i ON i.id = e.image_id "
                            "WHERE e.model = ?", (MODEL,)).fetchall()
    cat.close()
    rows = [r for r in rows if folder is None or os.fsdecode(r[2]).startswith(f"/lib/{folder}/")]
    scores = np.array([from_blob(v) @ q for _, v, _ in rows])
    order = np.lexsort((np.array([r[0] for r in rows]), -scores))[:k]
    return [rows[i][0] for i in order]


@pytest.fixture
def lib(tmp_path: Path) -> Lib:
    matrix, images, texts = world(n=N, seed=11)
    data = tmp_path / "data"
    data.mkdir()
    fill(data, matrix.astype(np.float32))
    settings = Settings(data_dir=data, clip_model=MODEL, device="cpu", service=False, ann_crossover=CROSSOVER)
    return settings, images, texts


def ready(engine: Engine) -> None:
    """A search starts the build; wait for it."""
    engine.search_vector(np.ones(DIM, dtype=np.float32), top=1)
    assert engine.vector_index(wait=60).answering == "ann"


def overlap(got: list[int], want: list[int]) -> float:
    """recall: the share of the exact answer found (the best one must be among them)."""
    assert got[0] == want[0]
    return len(set(got) & set(want)) / len(want)


def paths_ids(engine: Engine, results: list[SearchResult]) -> list[int]:
    return [r.image_id for r in results]


def test_past_the_crossover_search_answers_exactly_until_the_index_is_built_then_through_it(lib: Lib) -> None:
    settings, images, texts = lib
    with Engine(settings) as engine:
        first = engine.search_vector(images[0], top=10)
        assert engine.last_route == "exact" and "answering exactly" in engine.vector_index_note()
        assert paths_ids(engine, first) == truth(settings.data_dir, images[0], 10)
        facts = engine.vector_index(wait=60)
        assert facts.answering == "ann" and facts.current and facts.index_vectors == N
        assert facts.recall is not None and facts.recall >= 0.9 and facts.built and facts.index_bytes > 0
        assert engine.vector_index_note() == ""
        recalls = []
        for q in np.concatenate([images[:10], texts[:10]]):
            got = engine.search_vector(q, top=10)
            assert engine.last_route == "ann"
            want = truth(settings.data_dir, q, 10)
            recalls.append(len(set(paths_ids(engine, got)) & set(want)) / 10)
            for r in got:  # every score is the exact cosine
                stored = engine.catalog().embedding(r.image_id, MODEL)
                assert stored is not None and r.score == pytest.approx(float(from_blob(stored) @ q), abs=1e-6)
        assert np.mean(recalls) >= 0.95
        status = engine.status().as_dict()["vector_index"]
        assert isinstance(status, dict) and status["answering"] == "ann"
        assert engine.search_vector(images[0], top=10, exact=True) == first  # search --exact
        assert engine.last_route == "exact"
        env = {**os.environ, "CLIPGIT_DATA_DIR": str(settings.data_dir), "CLIPGIT_CLIP_MODEL": MODEL,
               "CLIPGIT_ANN_CROSSOVER": str(CROSSOVER), "CLIPGIT_SERVICE": "0"}
        shown = subprocess.run([cli_path(), "status", "--json"], env=env, capture_output=True, text=True, timeout=60)
        told = json.loads(shown.stdout)["vector_index"]
        assert told["answering"] == "ann" and told["index_vectors"] == N and told["recall"] == facts.recall
        plain = subprocess.run([cli_path(), "status"], env=env, capture_output=True, text=True, timeout=60).stdout
        assert "search     approximate index (3,000 vectors" in plain and "recall@10" in plain
        small = subprocess.run([cli_path(), "status"], env={**env, "CLIPGIT_ANN_CROSSOVER": str(N + 1)},
                               capture_output=True, text=True, timeout=60).stdout
        assert "search     exact (approximate index past 3,001 images)" in small
    with Engine(dataclasses.replace(settings, vector_index="exact")) as exact:
        exact.search_vector(images[0], top=10)
        assert exact.last_route == "exact" and exact.vector_index().wanted == "exact"


@pytest.mark.parametrize("folder", list(FOLDERS))
@pytest.mark.parametrize("route", ["auto", "selector"])
def test_top1_inside_a_filter_is_the_exact_best_inside_it(lib: Lib, folder: str, route: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    settings, images, texts = lib
    if route == "selector":  # every filter too big to scan: through the index's ID selector
        sizes = AnnSettings.for_size
        monkeypatch.setattr(AnnSettings, "for_size",
                            classmethod(lambda cls, n: dataclasses.replace(sizes(n), subset_scan_max=2)))
    with Engine(settings) as engine:
        ready(engine)
        for q in np.concatenate([images[:8], texts[:8]]):
            got = engine.search_vector(q, top=1, folder=f"/lib/{folder}")
            assert paths_ids(engine, got) == truth(settings.data_dir, q, 1, folder)
            if route == "selector" and folder in ("mid", "half"):
                assert engine.last_route == "ann"


def test_added_and_removed_images_update_the_index_without_a_rebuild(lib: Lib) -> None:
    settings, images, _ = lib
    with Engine(settings) as engine:
        ready(engine)
        built = engine.vector_index().built
        best = paths_ids(engine, engine.search_vector(images[2], top=3))
        remove(settings.data_dir, best[:2])  # another process removes two images ...
        extra = unit(images[2] + 0.05 * np.random.default_rng(1).standard_normal(DIM))[None, :]
        new = fill(settings.data_dir, np.vstack([extra, world(n=200, seed=12)[0].astype(np.float32)]), start=N)
        got = paths_ids(engine, engine.search_vector(images[2], top=10))
        assert engine.last_route == "ann"  # through the index at once: the changes were put into it
        assert got == truth(settings.data_dir, images[2], 10) and got[0] == new[0] and not set(best[:2]) & set(got)
        engine.save_vector_index()
        facts = engine.vector_index()  # the same index (built when it was), updated
        assert facts.built == built and facts.added == len(new) and facts.removed == 2
        assert facts.index_vectors == N - 2 + len(new) and facts.current
    with Engine(settings) as again:  # the saved index is in step: mapped at once, and answers the first query
        again.search_vector(images[2], top=1)
        assert again.last_route == "ann" and again.vector_index_note() == ""
        facts = again.vector_index(wait=60)
        assert facts.current and facts.built == built and facts.added == len(new)  # the file loaded, not rebuilt


def test_an_index_left_behind_by_changes_of_another_process_is_brought_in_step(lib: Lib) -> None:
    settings, images, _ = lib
    with Engine(settings) as engine:
        ready(engine)
        built = engine.vector_index().built
    gone = truth(settings.data_dir, images[4], 5)
    remove(settings.data_dir, gone)
    new = fill(settings.data_dir, world(n=100, seed=13)[0].astype(np.float32), start=N)
    with Engine(settings) as engine:
        assert not engine.vector_index().current  # stale: the file's figures are not the catalog's
        first = paths_ids(engine, engine.search_vector(images[4], top=10))
        assert engine.last_route == "exact" and first == truth(settings.data_dir, images[4], 10)
        facts = engine.vector_index(wait=60)
        assert facts.current and facts.index_vectors == N - 5 + len(new) and facts.built == built  # caught up
        got = paths_ids(engine, engine.search_vector(images[4], top=10))
        assert engine.last_route == "ann" and got == first and not set(gone) & set(got)


@pytest.mark.parametrize("damage", ["truncated", "foreign", "another model", "payload cut", "payload byte"])
def test_a_damaged_index_file_is_rebuilt_with_a_one_line_note(lib: Lib, damage: str) -> None:
    settings, images, _ = lib
    with Engine(settings) as engine:
        ready(engine)
    path = index_path(settings.data_dir, MODEL)
    good = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(good[: len(good) // 3])
    elif damage == "foreign":
        path.write_bytes(b"PK\x03\x04" + os.urandom(4000))
    elif damage.startswith("payload"):
        payload = next(settings.data_dir.glob(f"{path.name}.*.faiss"))
        data = payload.read_bytes()
        at = len(data) // 2
        payload.write_bytes(data[:at] if damage == "payload cut" else data[:at] + bytes([data[at] ^ 1]) + data[at + 1:])
    else:
        foreign = AnnIndex.load(path, model=MODEL)  # whole and current: only its model differs
        foreign.model = "other"
        foreign.save(path)
    with Engine(settings) as engine:
        got = paths_ids(engine, engine.search_vector(images[5], top=10))
        want = truth(settings.data_dir, images[5], 10)
        if damage == "payload byte":  # opened mapped (its length is right); the checksum pass comes after
            assert engine.last_route == "ann" and overlap(got, want) >= 0.8
        else:
            assert engine.last_route == "exact" and got == want
        engine.vector_index(wait=60)
        note = engine.vector_index_note()
        assert "\n" not in note and "Traceback" not in note
        assert engine.vector_index().answering == "ann"
        assert overlap(paths_ids(engine, engine.search_vector(images[5], top=10)), got) >= 0.8
    assert AnnIndex.load(path, model=MODEL).count == N  # rebuilt, and its checksum passes
    assert len(list(settings.data_dir.glob(f"{path.name}.*.faiss"))) == 1


def test_a_library_that_shrinks_below_the_crossover_goes_back_to_exact(lib: Lib) -> None:
    settings, images, _ = lib
    with Engine(settings) as engine:
        ready(engine)
        cat = engine.catalog()
        ids = [r[0] for r in cat.conn.execute("SELECT image_id FROM embeddings")]
        remove(settings.data_dir, ids[: N - CROSSOVER + 1])
        got = paths_ids(engine, engine.search_vector(images[6], top=10))
        assert engine.last_route == "exact" and got == truth(settings.data_dir, images[6], 10)
        assert engine.vector_index().wanted == "exact" and not index_path(settings.data_dir, MODEL).exists()


def test_near_duplicates_from_the_index_are_the_exact_groups(lib: Lib) -> None:
    settings = lib[0]
    rng = np.random.default_rng(9)
    base = world(n=40, seed=14)[0].astype(np.float32)
    bursts = [unit(b + rng.uniform(0.05, 0.15) * rng.standard_normal((3, DIM)) / np.sqrt(DIM)) for b in base]
    fill(settings.data_dir, np.vstack(bursts), start=N)
    with Engine(dataclasses.replace(settings, vector_index="exact")) as exact:
        want = exact.duplicates(0.95)
    with Engine(settings) as engine:
        ready(engine)
        t0 = time.perf_counter()
        got = engine.duplicates(0.95)
        assert time.perf_counter() - t0 < 30
    assert len(want) >= 40
    assert [[f.path for f in g.files] for g in got] == [[f.path for f in g.files] for g in want]
    assert [g.similarity for g in got] == pytest.approx([g.similarity for g in want], abs=1e-6)


KILLED = """
    import os, signal, sys, numpy as np
    from clipgit.core.config import Settings
    from clipgit.core.engine import Engine
    from clipgit.core.store import ann, ann_train
    where = sys.argv[1]
    if where == "build":  # mid-build: after the lists are trained, before any vector is added
        real = ann_train.cluster
        def cluster(*args, **kwargs):
            out = real(*args, **kwargs)
            print("building", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        ann.cluster = cluster
    else:  # the new file complete under its temp name, not yet in place
        real_save = ann.AnnIndex.save
        ann.AnnIndex.save = lambda self, path, before=None: real_save(
            self, path, lambda: os.kill(os.getpid(), signal.SIGKILL))
    settings = Settings(data_dir=sys.argv[2], clip_model="synthetic", device="cpu", service=False,
                        ann_crossover={crossover})
    engine = Engine(settings)
    engine.search_vector(np.ones({dim}, dtype=np.float32), top=1)
    engine.vector_index(wait=60)
    print("not killed", flush=True)
"""


@pytest.mark.parametrize("where", ["build", "save"])
def test_kill_9_during_a_build_loses_nothing(lib: Lib, where: str) -> None:
    settings, images, _ = lib
    code = textwrap.dedent(KILLED.format(crossover=CROSSOVER, dim=DIM))
    done = subprocess.run([sys.executable, "-c", code, where, str(settings.data_dir)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert "not killed" not in done.stdout
    assert library_problems(settings.data_dir, MODEL) == []
    path = index_path(settings.data_dir, MODEL)
    assert not path.exists() and len(list(settings.data_dir.glob(f".{path.name}.*.tmp"))) == (where == "save")
    with Engine(settings) as engine:
        got = paths_ids(engine, engine.search_vector(images[7], top=10))
        assert got == truth(settings.data_dir, images[7], 10)
        assert engine.vector_index(wait=60).answering == "ann"
        assert overlap(paths_ids(engine, engine.search_vector(images[7], top=10)), got) >= 0.8
    assert path.exists() and not list(settings.data_dir.glob(f".{path.name}.*.tmp"))  # the orphans went
    assert len(list(settings.data_dir.glob(f"{path.name}.*.faiss"))) == 1
