"""The approximate index (core/store/ann.py) against brute force, at a few thousand vectors.

Vectors are clustered unit vectors in one cone, text-like queries in another (CLIP's modality gap: best
cosines near 0.3), as in benchmarks/scale.py; every answer is checked against an exact scan.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from clipgit.core.store.ann import (
    AnnIndex,
    AnnSettings,
    IndexDamaged,
    IndexMissing,
    Machine,
    VectorSource,
    choose_kind,
    index_path,
)
from clipgit.core.store.ann_file import FORMAT_VERSION, MAGIC
from clipgit.core.store.ann_kind import crossover_count
from clipgit.core.store.ann_train import FLAT_MAX, Coarse, cluster
from clipgit.core.store.knn_dupes import components, knn_groups
from clipgit.core.store.vector_source import FileRows
from tests.helpers import DIM, unit, world

N = 4_000
Built = tuple[AnnIndex, VectorSource, np.ndarray, np.ndarray]


def exact(matrix: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int,
          allow: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    scores = matrix.astype(np.float32) @ unit(q)
    if allow is not None:
        scores = np.where(np.isin(ids, allow), scores, -np.inf)
    order = np.lexsort((ids, -scores))[:k]
    return ids[order], scores[order]


@pytest.fixture(scope="module")
def built() -> Built:
    matrix, images, texts = world()
    ids = np.arange(N, dtype=np.int64) * 3 + 11  # gaps, as a catalog's ids after deletions
    source = VectorSource(matrix, ids)
    index = AnnIndex.build(source, model="m", state={"count": N, "ids": "x"},
                           settings=AnnSettings(nlist=64, nprobe=24, subset_scan_max=50))
    return index, source, images, texts


def test_recall_against_exact_on_image_and_text_queries_and_every_score_is_exact(built: Built) -> None:
    index, source, images, texts = built
    texts_best = [exact(source.matrix, source.row_ids, q, 1)[1][0] for q in texts]
    assert 0.15 < float(np.median(texts_best)) < 0.5  # text-like: a separate cone, low best cosines
    for queries in (images, texts):
        recalls = []
        for q in queries:
            hits = index.search(q, 10, source)
            want_ids, _ = exact(source.matrix, source.row_ids, q, 10)
            recalls.append(len(set(hits.ids) & set(want_ids)) / 10)
            rows = source.rows(hits.ids)
            np.testing.assert_allclose(hits.scores, source.matrix[rows].astype(np.float32) @ unit(q), atol=1e-6)
            assert list(hits.scores) == sorted(hits.scores, reverse=True)
            assert hits.route == "ann"
        assert np.mean(recalls) >= 0.95


@pytest.mark.parametrize("fraction", [0.001, 0.01, 0.1, 0.5])
def test_top1_inside_a_filter_is_the_exact_best_inside_it(built: Built, fraction: float) -> None:
    index, source, images, texts = built
    rng = np.random.default_rng(int(fraction * 1000))
    allow = rng.choice(source.row_ids, size=max(1, int(N * fraction)), replace=False)
    for q in np.concatenate([images[:20], texts[:20]]):
        hits = index.search(q, 1, source, allow=allow)
        want_ids, want_scores = exact(source.matrix, source.row_ids, q, 1, allow)
        assert hits.ids.tolist() == want_ids.tolist()
        np.testing.assert_allclose(hits.scores, want_scores, atol=1e-6)
        assert hits.route == ("subset" if len(allow) <= 50 else "ann")
        ten = index.search(q, 10, source, allow=allow)
        assert set(ten.ids) <= set(allow.tolist()) and len(ten.ids) == min(10, len(allow))


def test_filters_exclusions_and_short_answers(built: Built) -> None:
    index, source, images, _ = built
    q = images[0]
    best = index.search(q, 5, source)
    without = index.search(q, 5, source, exclude=best.ids[:2])
    assert not set(best.ids[:2]) & set(without.ids)
    assert without.ids[0] == best.ids[2]
    few = np.array([source.row_ids[5], source.row_ids[7], 10**12])  # one id is in no row
    assert sorted(index.search(q, 10, source, allow=few).ids) == sorted(few[:2])
    assert len(index.search(q, 10, source, allow=np.zeros(0, np.int64)).ids) == 0
    broad = source.row_ids[::2]
    assert index.search(q, 3, source, allow=set(broad.tolist())).ids.tolist() == \
        exact(source.matrix, source.row_ids, q, 3, broad)[0].tolist()


def test_incremental_add_and_remove_without_rebuild() -> None:
    matrix, images, _ = world(seed=1)
    ids = np.arange(N, dtype=np.int64) + 1
    half = N // 2
    index = AnnIndex.build(VectorSource(matrix[:half], ids[:half]), model="m", state={})
    source = VectorSource(matrix, ids)
    assert index.count == half and index.drift == 0
    index.add(matrix[half:], ids[half:])
    assert index.count == N and index.drift == pytest.approx(1.0)
    q = images[3]
    assert index.search(q, 10, source).ids.tolist() == exact(matrix, ids, q, 10)[0].tolist()
    target = index.search(q, 1, source).ids[0]
    assert index.remove([target, 10**9]) == 1
    assert target not in index.search(q, 10, source).ids
    assert index.count == N - 1 and index.removed == 1
    # replacing a vector by id keeps one entry: the new vector finds itself first
    fresh = unit(np.random.default_rng(5).standard_normal(DIM))
    index.add(fresh[None, :], [ids[0]])
    matrix2 = matrix.copy()
    matrix2[0] = fresh
    assert index.count == N - 1
    assert index.search(fresh, 1, VectorSource(matrix2, ids)).ids.tolist() == [ids[0]]


def test_rows_gone_from_the_snapshot_are_skipped_and_the_answer_stays_full(built: Built) -> None:
    index, source, images, _ = built
    q = images[1]
    top = index.search(q, 10, source)
    alive = np.ones(N, dtype=bool)
    alive[source.rows(top.ids)] = False
    thinner = VectorSource(source.matrix, source.row_ids, alive)
    hits = index.search(q, 10, thinner)
    assert len(hits.ids) == 10 and not set(hits.ids) & set(top.ids)
    # a source whose ids are not sorted (rows rewritten out of order) looks rows up the same way
    order = np.random.default_rng(0).permutation(N)
    shuffled = VectorSource(source.matrix[order], source.row_ids[order])
    assert index.search(q, 10, shuffled).ids.tolist() == top.ids.tolist()


def test_save_and_load_round_trip(built: Built, tmp_path: Path) -> None:
    index, source, images, _ = built
    path = index_path(tmp_path, "openai/clip")
    assert path.parent == tmp_path and path != index_path(tmp_path, "other")
    index.save(path)
    again = AnnIndex.load(path, model="m")
    assert again.state == {"count": N, "ids": "x"} and again.count == index.count
    assert again.settings == index.settings and again.drift == index.drift
    for q in images[:5]:
        assert again.search(q, 10, source).ids.tolist() == index.search(q, 10, source).ids.tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, payload_of(path).name]
    again.verify()  # mapped from the payload, which is whole: no IndexDamaged
    again.add(images[:3], [10**6, 10**6 + 1, 10**6 + 2])  # the first change copies the mapped lists
    assert again.count == index.count + 3
    assert again.search(images[0], 1, source).ids.tolist() == index.search(images[0], 1, source).ids.tolist()


def payload_of(path: Path) -> Path:
    """The one payload file beside an index's small file."""
    found = list(path.parent.glob(f"{path.name}.*.faiss"))
    assert len(found) == 1, found
    return found[0]


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


def test_missing_truncated_foreign_or_stale_files_raise_index_damaged(built: Built, tmp_path: Path) -> None:
    index, _, _, _ = built
    path = tmp_path / "ann.idx"
    with pytest.raises(IndexMissing):
        AnnIndex.load(path, model="m")
    index.save(path)
    good, payload = path.read_bytes(), payload_of(path)
    whole = payload.read_bytes()
    small = {  # the small file that names the payload
        "empty": b"",
        "prefix only": good[:10],
        "header cut": good[:40],
        "trailer cut": good[:-5],
        "one byte short": good[:-1],
        "one byte more": good + b"\0",
        "flipped byte": flip(good, len(good) // 2),
        "foreign": b"PK\x03\x04" + os.urandom(5000),
        "text": b"hello world\n" * 100,
        "other version": MAGIC + (FORMAT_VERSION + 1).to_bytes(4, "little") + good[12:],
        "version 1 (one file)": MAGIC + (1).to_bytes(4, "little") + good[12:],
    }
    for name, data in small.items():
        path.write_bytes(data)
        with pytest.raises(IndexDamaged):
            AnnIndex.load(path, model="m", verify=False)
            pytest.fail(name)
    path.write_bytes(good)
    for name, cut in {"missing": None, "cut": whole[: len(whole) // 2], "one byte short": whole[:-1],
                      "one byte more": whole + b"\0"}.items():  # what must never reach faiss's mapping
        payload.unlink(missing_ok=True)
        if cut is not None:
            payload.write_bytes(cut)
        with pytest.raises(IndexDamaged):
            AnnIndex.load(path, model="m", verify=False)
            pytest.fail(name)
    for name, data in {"flipped byte": flip(whole, len(whole) // 2), "foreign": os.urandom(len(whole))}.items():
        payload.write_bytes(data)
        with pytest.raises(IndexDamaged, match="checksum"):
            AnnIndex.load(path, model="m")
            pytest.fail(name)
    payload.write_bytes(flip(whole, len(whole) // 2))  # a code byte: faiss reads it; the checksum pass refuses it
    mapped = AnnIndex.load(path, model="m", verify=False)
    with pytest.raises(IndexDamaged, match="checksum"):
        mapped.verify()
    payload.write_bytes(whole)
    with pytest.raises(IndexDamaged, match="another model"):
        AnnIndex.load(path, model="another")


def test_kill_9_while_saving_leaves_the_previous_file(tmp_path: Path) -> None:
    matrix = world(n=1_000, seed=2)[0]
    ids = np.arange(1_000, dtype=np.int64)
    source = VectorSource(matrix, ids)
    path = tmp_path / "ann.idx"
    AnnIndex.build(source, model="m", state={"v": 1}).save(path)
    np.save(tmp_path / "m.npy", matrix)
    code = textwrap.dedent(f"""
        import os, signal, numpy as np
        from clipgit.core.store.ann import AnnIndex, VectorSource
        m = np.load({str(tmp_path / "m.npy")!r})
        index = AnnIndex.build(VectorSource(m[:500], np.arange(500)), model="m", state={{"v": 2}})
        index.save(__import__("pathlib").Path({str(path)!r}), lambda: os.kill(os.getpid(), signal.SIGKILL))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL
    assert len(list(tmp_path.glob(".ann.idx.*.tmp"))) == 1  # the killed writer's complete temp file
    assert len(list(tmp_path.glob("ann.idx.*.faiss"))) == 2  # and its payload, beside the previous one
    survivor = AnnIndex.load(path, model="m")
    assert survivor.state == {"v": 1} and survivor.count == 1_000
    survivor.state = {"v": 3}
    survivor.save(path)  # the next writer removes the orphans, and its own previous payload
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ann.idx", payload_of(path).name, "m.npy"]
    assert AnnIndex.load(path, model="m").state == {"v": 3}


def test_knn_duplicate_groups_equal_brute_force() -> None:
    matrix, _, _ = world(n=3_000, seed=3)
    x = matrix.astype(np.float32)
    rng = np.random.default_rng(3)
    rows = rng.permutation(3_000)
    at = 0
    for size in rng.integers(2, 7, 40):  # 40 bursts of 2-6 shots, plus one of 30 (more than `neighbours`)
        base, copies = rows[at], rows[at + 1: at + size]
        x[copies] = unit(x[base] + rng.uniform(0.1, 0.2) * rng.standard_normal((len(copies), DIM)) / np.sqrt(DIM))
        at += size
    x[rows[at + 1: at + 30]] = unit(x[rows[at]] + 0.1 * rng.standard_normal((29, DIM)) / np.sqrt(DIM))
    matrix = x.astype(np.float16)
    ids = np.arange(3_000, dtype=np.int64) + 100
    source = VectorSource(matrix, ids)
    index = AnnIndex.build(source, model="m", state={})
    full = matrix.astype(np.float32) @ matrix.astype(np.float32).T
    a, b = np.nonzero(np.triu(full >= 0.95, k=1))
    want = components(np.stack([ids[a], ids[b]], axis=1))
    assert len(want) == 41 and max(len(g) for g in want) == 30
    assert knn_groups(index, source, 0.95) == want


def test_choose_kind_follows_the_measured_crossover() -> None:
    two = Machine(cores=2, ram_bytes=24 << 30)
    assert choose_kind(100_000, 512, two) == "exact"
    assert choose_kind(1_000_000, 512, two) == "exact"
    assert choose_kind(3_000_000, 512, two) == "ann"
    assert choose_kind(10_000_000, 512, Machine(cores=2, ram_bytes=24 << 30, cuda=True)) == "exact"
    assert choose_kind(1_000_000, 512, Machine(cores=2, ram_bytes=1 << 30)) == "ann"  # the matrix would not fit
    here = Machine.here()
    assert here.cores >= 1 and here.ram_bytes > 0
    for machine in (two, Machine(cores=8, ram_bytes=24 << 30), Machine(cores=2, ram_bytes=1 << 30)):
        n = crossover_count(512, machine)  # what `status` names: the first size that wants the index
        assert choose_kind(n - 1, 512, machine) == "exact" and choose_kind(n, 512, machine) == "ann"
    assert 1_000_000 < crossover_count(512, two) < 3_000_000
    assert crossover_count(512, Machine(cores=2, ram_bytes=24 << 30, cuda=True)) == 0


def test_two_level_lists_assign_as_a_flat_search_would() -> None:
    rng = np.random.default_rng(4)
    centres = unit(rng.standard_normal((300, 32)))
    x = unit(centres[rng.integers(0, 300, 10_000)] + 0.5 * rng.standard_normal((10_000, 32)) / np.sqrt(32))
    nlist = FLAT_MAX + 476
    coarse = cluster(x[:8_000], nlist, 0, None)
    assert coarse.centroids.shape == (nlist, 32) and len(coarse.groups) == round(np.sqrt(nlist))
    np.testing.assert_allclose(np.linalg.norm(coarse.centroids, axis=1), 1, atol=1e-5)
    flat = (x @ coarse.centroids.T).argmax(axis=1)
    assert np.mean(coarse.assign(x) == flat) >= 0.98
    again = Coarse.regroup(coarse.centroids)  # as after a load
    assert np.mean(again.assign(x) == flat) >= 0.98


def test_rows_read_from_the_file_score_as_the_mapped_rows(tmp_path: Path) -> None:
    """A re-rank reads the rows the file holds with pread (not through the mapping) and rows appended in
    this process (copy-on-write pages past what the file holds) from the mapping: same answer either way."""
    matrix, images, _ = world(n=2_000, seed=5)
    path = tmp_path / "m.npy"
    np.save(path, matrix)
    mapped = np.load(path, mmap_mode="c")
    mapped[1_500:] = world(n=500, seed=6)[0]  # appended here: the file still holds the old rows
    ids = np.arange(2_000, dtype=np.int64) * 2 + 1
    with open(path, "rb") as fh:
        stored = FileRows(fh, mapped.offset, 1_500, DIM)
        via_file = VectorSource(mapped, ids, file_rows=stored)
        in_memory = VectorSource(np.array(mapped), ids)
        for q in images[:5]:
            q = q / np.linalg.norm(q)
            for rows in (np.arange(1_400, 1_600), np.arange(2_000)):  # a re-rank's few rows, and many
                got, want = via_file.best(q, rows, 10), in_memory.best(q, rows, 10)
                assert got[0].tolist() == want[0].tolist()
                np.testing.assert_allclose(got[1], want[1], rtol=1e-6)
        with pytest.raises(OSError, match="ended"):
            FileRows(fh, mapped.offset, 3_000, DIM).read(np.array([2_999]))
