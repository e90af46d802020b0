"""Exact search on the card (core/store/device_scan.py) answers as the CPU scan does, in step with the snapshot.

Run here on torch's "cpu" device with tiny chunks (many of them, the last one growing); the same comparison
runs on CUDA where a GPU is present.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from clipgit.core.config import Settings
from clipgit.core.engine import Engine
from clipgit.core.store import device_scan
from clipgit.core.store.ann import Machine
from clipgit.core.store.ann_keeper import AnnKeeper
from clipgit.core.store.catalog import Catalog
from clipgit.core.store.device_scan import DeviceFull, DeviceScan, ExactScan
from clipgit.core.store.vectors import VectorIndex, as_blob
from tests.helpers import DIM, unit, world

torch = pytest.importorskip("torch")  # the CPU scan then scores with torch's fp16 product, as the card does

MODEL = "synthetic"
N = 1_500
SELECTIVITIES = (None, 0.002, 0.02, 0.2, 0.7)
Hits = list[tuple[int, float]]


def fill(cat: Catalog, vectors: np.ndarray, start: int) -> list[int]:
    ids = []
    with cat.transaction():
        root = cat.add_folder("/lib")
        for k, vec in enumerate(vectors):
            n = start + k
            image = cat.upsert_image(root, f"/lib/{n}.jpg", 1000 + n, 1, n.to_bytes(16, "big"), 64, 64, None)
            cat.add_embedding(image, MODEL, as_blob(vec))
            ids.append(image)
    return ids


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Thousands of tiny products: on a busy machine each would wait for torch's second thread (100x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def lib(tmp_path: Path) -> tuple[Catalog, VectorIndex, np.ndarray]:
    matrix, images, texts = world(n=N, seed=5)
    cat = Catalog(tmp_path / "library.db")
    fill(cat, matrix.astype(np.float32), 0)
    vectors = VectorIndex(MODEL, tmp_path)
    vectors.refresh(cat)
    return cat, vectors, np.concatenate([images[:6], texts[:6]])


def synced(vectors: VectorIndex, chunk_rows: int, device: str = "cpu") -> DeviceScan:
    scan = DeviceScan(device, chunk_rows=chunk_rows)
    scan.sync(vectors)
    return scan


def same(got: Hits, want: Hits, *, exact_ids: bool = True) -> None:
    """Scores to 1e-3, position by position; ids exactly (the same product on the same device), or, across
    devices, exactly wherever scores are apart by more than the rounding."""
    assert len(got) == len(want)
    assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-3)
    if exact_ids:
        assert [i for i, _ in got] == [i for i, _ in want]
    elif want:
        cut = want[-1][1] + 2e-3  # rows this far above the k-th are in both answers
        assert {i for i, s in want if s > cut} <= {i for i, _ in got}
        assert {i for i, s in got if s > cut} <= {i for i, _ in want}


def compare(scan: DeviceScan, vectors: VectorIndex, queries: np.ndarray, *, exact_ids: bool = True,
            ks: tuple[int, ...] = (1, 10, 50)) -> None:
    """Every query, k, filter selectivity, with and without exclusions: the scan answers as VectorIndex.top_k."""
    ids, _ = vectors.live()
    rng = np.random.default_rng(3)
    for share in SELECTIVITIES:
        allow = None if share is None else np.concatenate(
            [rng.choice(ids, max(1, int(share * len(ids))), replace=False), [10**9]])  # an id not in the library
        for j, q in enumerate(queries):
            exclude = set() if j % 2 else set(rng.choice(ids, 5, replace=False).tolist()) | {int(ids[0])}
            for k in ks:
                want = vectors.top_k(q, k, allow=allow, exclude=exclude)
                same(scan.top_k(q, k, allow=allow, exclude=exclude), want, exact_ids=exact_ids)


def test_many_chunks_answer_as_the_cpu_scan(lib: tuple[Catalog, VectorIndex, np.ndarray]) -> None:
    cat, vectors, queries = lib
    scan = synced(vectors, 64)
    assert len(scan._chunks) == -(-N // 64) and scan.live == N and scan.uploads == 1
    compare(scan, vectors, queries)
    cat.close()


def test_appends_and_removals_reach_the_card_without_a_new_upload(lib: tuple[Catalog, VectorIndex, np.ndarray]) -> None:
    cat, vectors, queries = lib
    scan = synced(vectors, 256)
    more, _, _ = world(n=700, seed=9)
    rng = np.random.default_rng(4)
    added = fill(cat, more[:300].astype(np.float32), N)  # fills the last chunk, grows it, then new ones
    ids, _ = vectors.live()
    with cat.transaction():
        cat.delete_images(rng.choice(ids, 200, replace=False).tolist())
        for image in rng.choice(added, 20, replace=False).tolist():  # embedded again: a new row, the old one gone
            cat.add_embedding(int(image), MODEL, as_blob(unit(rng.standard_normal(DIM))))
    vectors.refresh(cat)
    scan.sync(vectors)
    assert scan.uploads == 1 and scan.live == vectors.figures()[0]
    compare(scan, vectors, queries)
    vectors.save_snapshot()  # compacts the host rows; the copy on the card stays as it is
    fill(cat, more[300:].astype(np.float32), N + 300)
    vectors.refresh(cat)
    scan.sync(vectors)
    assert scan.uploads == 1 and scan.live == vectors.figures()[0] == N + 700 - 200
    compare(scan, vectors, queries)
    cat.close()


def test_a_snapshot_rebuilt_from_the_catalog_is_uploaded_again(lib: tuple[Catalog, VectorIndex, np.ndarray]) -> None:
    cat, vectors, queries = lib
    scan = synced(vectors, 100)
    stats = "UPDATE vector_stats SET count = count {} 1 WHERE model = ?"
    with cat.transaction():
        cat.conn.execute(stats.format("+"), (MODEL,))  # the catalog disagrees: the matrix is read again
    vectors.refresh(cat)
    with cat.transaction():
        cat.conn.execute(stats.format("-"), (MODEL,))
        cat.delete_images([1, 2, 3])
    vectors.refresh(cat)
    assert vectors.rebuilds == 1
    scan.sync(vectors)
    assert scan.uploads == 2 and scan.live == N - 3
    compare(scan, vectors, queries, ks=(10,))
    cat.close()


def test_k_beyond_the_live_rows_and_an_empty_library(lib: tuple[Catalog, VectorIndex, np.ndarray],
                                                     tmp_path: Path) -> None:
    cat, vectors, queries = lib
    scan = synced(vectors, 128)
    every = scan.top_k(queries[0], 5 * N)
    assert len(every) == N
    same(every, vectors.top_k(queries[0], 5 * N))
    assert scan.top_k(queries[0], 0) == [] and scan.top_k(queries[0], 5, allow=np.zeros(0, dtype=np.int64)) == []
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    empty_cat = Catalog(empty_dir / "library.db")
    empty = VectorIndex(MODEL, empty_dir)
    empty.refresh(empty_cat)
    bare = synced(empty, 128)
    assert bare.top_k(queries[0], 10) == [] == empty.top_k(queries[0], 10)
    fill(empty_cat, world(n=3, seed=1)[0].astype(np.float32), 0)  # the first rows of an empty library
    empty.refresh(empty_cat)
    bare.sync(empty)
    same(bare.top_k(queries[0], 10), empty.top_k(queries[0], 10))
    empty_cat.close()
    cat.close()


def test_ties_are_decided_by_id_as_on_the_cpu(lib: tuple[Catalog, VectorIndex, np.ndarray]) -> None:
    """Copies of one picture score the same: the card fetches every row tied with the k-th from each chunk
    it cut, so which copies come back (and in what order) is decided by id, as on the CPU."""
    cat, vectors, queries = lib
    q = queries[0]
    copy = as_blob(q)
    rng = np.random.default_rng(8)
    with cat.transaction():  # early ids embedded again: their rows come last, in another order than their ids
        for image in rng.permutation(np.arange(1, 400))[:30].tolist():
            cat.add_embedding(int(image), MODEL, copy)
    vectors.refresh(cat)
    scan = synced(vectors, 16)
    for k in (5, 12, 30, 40):
        got, want = scan.top_k(q, k), vectors.top_k(q, k)
        same(got, want)
        tied = [i for i, s in got if s == got[0][1]]
        assert tied == sorted(tied) and len(tied) == min(k, 30)
    cat.close()


def test_the_exact_path_stays_on_the_cpu_here_and_runs_the_card_on_the_model_thread(
        lib: tuple[Catalog, VectorIndex, np.ndarray], monkeypatch: pytest.MonkeyPatch) -> None:
    cat, vectors, queries = lib
    cpu = ExactScan(vectors, lambda: "auto")
    assert cpu.where() == "cpu" and cpu.top_k(queries[0], 10) == vectors.top_k(queries[0], 10) and cpu.scan is None
    monkeypatch.setattr(device_scan, "scan_device", lambda setting: "cpu")  # torch's cpu device stands in for a card
    threads: list[str] = []

    def run(job):  # type: ignore[no-untyped-def]
        out: list[object] = []
        worker = threading.Thread(target=lambda: out.append(job()), name="models")
        worker.start()
        worker.join()
        threads.append(worker.name)
        return out[0]

    card = ExactScan(vectors, lambda: "cuda", run, chunk_rows=64)
    allow = vectors.live()[0][::7]
    same(card.top_k(queries[1], 10, allow=allow, exclude={5}), vectors.top_k(queries[1], 10, allow=allow, exclude={5}))
    assert threads == ["models"] and card.scan is not None and card.scan.uploads == 1
    card.close()
    assert card.scan is None
    cat.close()


def test_a_library_that_does_not_fit_on_the_card_is_scanned_on_the_cpu(
        lib: tuple[Catalog, VectorIndex, np.ndarray], monkeypatch: pytest.MonkeyPatch) -> None:
    cat, vectors, queries = lib
    monkeypatch.setattr(device_scan, "scan_device", lambda setting: "cpu")

    def full(self: DeviceScan, rows: int) -> None:
        raise DeviceFull(f"{rows:,} more vectors need more than the card has")

    monkeypatch.setattr(DeviceScan, "_check_room", full)
    route = ExactScan(vectors, lambda: "cuda", chunk_rows=64)
    assert route.top_k(queries[0], 10) == vectors.top_k(queries[0], 10)
    assert route.scan is None and route.where() == "cpu" and "exact search runs on the CPU" in route.note
    cat.close()


def test_status_says_where_exact_search_runs_and_cuda_stays_exact(lib: tuple[Catalog, VectorIndex, np.ndarray],
                                                                  tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cat, vectors, _ = lib
    machine = Machine(cores=2, ram_bytes=64 << 30)
    big = (50_000_000, 0, 0)  # the figures of a library well past this machine's crossover
    here = AnnKeeper(vectors, tmp_path, machine=machine, scanner=ExactScan(vectors, lambda: "auto"))
    facts = here.facts(big, 512)
    assert (facts.exact_on, facts.wanted) == ("cpu", "ann")
    monkeypatch.setattr(device_scan, "scan_device", lambda setting: "cuda")
    card = AnnKeeper(vectors, tmp_path, machine=machine, scanner=ExactScan(vectors, lambda: "auto"))
    facts = card.facts(big, 512)
    assert (facts.exact_on, facts.wanted, card.wanted(200_000_000, 512)) == ("cuda", "exact", "exact")
    assert facts.as_dict()["exact_on"] == "cuda"
    cat.close()


def test_the_engine_scans_on_its_card_on_the_inference_thread(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    matrix, images, _ = world(n=400, seed=2)
    data = tmp_path / "data"
    data.mkdir()
    cat = Catalog(data / "library.db")
    fill(cat, matrix.astype(np.float32), 0)
    cat.close()
    settings = Settings(data_dir=data, clip_model=MODEL, device="cpu", service=False, vector_index="exact")
    with Engine(settings) as plain:
        want = [(r.image_id, r.score) for r in plain.search_vector(images[0], top=10)]
        assert plain.vector_index().exact_on == "cpu" and plain._keeper.scanner is not None
        assert plain._keeper.scanner.scan is None
    monkeypatch.setattr(device_scan, "scan_device", lambda setting: "cpu")
    seen: list[str] = []
    real_sync = DeviceScan.sync

    def sync(self: DeviceScan, vectors: VectorIndex) -> None:
        seen.append(threading.current_thread().name)
        real_sync(self, vectors)

    monkeypatch.setattr(DeviceScan, "sync", sync)
    with Engine(settings) as engine:
        got = [(r.image_id, r.score) for r in engine.search_vector(images[0], top=10)]
        assert engine._keeper.scanner is not None and engine._keeper.scanner.scan is not None
    assert got == want and seen == ["clipgit-inference"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("chunk_rows", [64, 0])  # 0: chunks sized from the card's free memory
def test_on_cuda_the_card_answers_as_the_cpu_scan(lib: tuple[Catalog, VectorIndex, np.ndarray],
                                                  chunk_rows: int) -> None:
    cat, vectors, queries = lib
    scan = synced(vectors, chunk_rows, "cuda")
    compare(scan, vectors, queries, exact_ids=False)
    more, _, _ = world(n=300, seed=9)
    fill(cat, more.astype(np.float32), N)
    with cat.transaction():
        cat.delete_images(list(range(1, 200, 3)))
    vectors.refresh(cat)
    scan.sync(vectors)
    assert scan.uploads == 1 and scan.live == vectors.figures()[0]
    compare(scan, vectors, queries, exact_ids=False)
    scan.close()
    cat.close()
