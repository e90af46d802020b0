"""Benchmark: the approximate index (core/store/ann.py) at 100k-10M x 512, side by side with exact search.

Synthetic vectors shaped like CLIP embeddings: unit vectors in clusters of lognormal sizes inside topics,
anisotropic noise (a few strong directions), every image vector in one cone; text-like queries in another
cone (the modality gap), so their best cosines to images are about 0.2-0.35, as real text queries' are.
Near-duplicate bursts are planted (2-5 shots, cosine about 0.96-0.99). Vectors are stored fp16 in a
memory-mapped .npy (10M = 10 GB on disk) under --dir, made once per size and kept.

Prints: exact p50/p95 and recall@10 through the engine's device scan on --device (cuda on a GPU machine: the
rows on the card), with top-1 inside each filter; ANN p50/p95 and recall@10 for image and text queries, build time
and peak memory, resident memory while answering (anonymous = the index and heap; file = pages of the
vector file touched by re-ranking, which the kernel may drop), filtered top-1 at 0.1/1/10/50% through each
route, add/remove times, and near-duplicate groups against the planted ones. Index building, answering
and dupes each run in a child process, so each one's memory is its own.

    python benchmarks/scale.py [--sizes 100000,1000000] [--dir /tmp/clipgit-scale] [--engine faiss,usearch]
    python benchmarks/scale.py --sizes 10000000 --device cuda   # exact search on the card
    python benchmarks/scale.py --vectors V.npy --queries Q.npy --out IDS.npy [--k 10]
    python benchmarks/scale.py --sizes 3000000 --open   # opening a built library and its first query
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import ROOT, table
from scale_data import CHUNK, N_QUERIES, SELECTIVITIES, exact_answers, make_data
from scale_exact import device_exact, exact_rows, ms

ROUTES = ["auto,index,subset"]  # passed on to the children


def index_file(folder: Path) -> Path:
    """Where the engine keeps the index of a model named "bench" whose data dir is `folder`."""
    from clipgit.core.store.ann_file import index_path

    return index_path(folder, "bench")


def status() -> dict[str, float]:
    """This process's memory in MB: VmRSS, RssAnon, RssFile, VmHWM (peak)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = int(rest.split()[0]) / 1024
    return out


def child(args: argparse.Namespace) -> dict[str, object]:
    from clipgit.core.store.ann import AnnIndex, VectorSource
    from clipgit.core.store.vector_source import FileRows

    folder = Path(args.data)
    mm, ids = np.load(folder / "vectors.npy", mmap_mode="r"), np.load(folder / "ids.npy")
    stored = FileRows(open(folder / "vectors.npy", "rb"), mm.offset, len(mm), 512)  # noqa: SIM115 (it closes it)
    source = VectorSource(mm, ids, file_rows=stored)  # re-ranks read rows as the engine does, not through the map
    if args.child == "build":
        t0 = time.perf_counter()
        if args.engine == "usearch":
            from usearch.index import Index

            ui = Index(ndim=512, metric="ip", dtype="i8", connectivity=16, expansion_add=128)
            for s in range(0, len(mm), CHUNK):
                ui.add(ids[s:s + CHUNK], np.asarray(mm[s:s + CHUNK], dtype=np.float32), threads=os.cpu_count() or 1)
            ui.save(str(folder / "usearch.idx"))
            size = (folder / "usearch.idx").stat().st_size
        else:
            from clipgit.core.store.ann_file import files_size
            from clipgit.core.store.vectors import id_hashes

            # the state a library with exactly these rows has, so that opening it (--open) finds the index current
            state = {"count": len(ids), "idsum": int(ids.sum()), "idhash": int(id_hashes(ids).sum()), "seq": len(ids)}
            index = AnnIndex.build(source, model="bench", state=state)
            index.save(index_file(folder))
            size = files_size(index_file(folder))
            took = time.perf_counter() - t0
            # how many vectors sit in the list a flat search over every centroid would pick
            owner = np.full(len(ids), -1, dtype=np.int64)
            for list_no in range(index.nlist):
                owner[source.rows(index.list_members(list_no))] = list_no
            sample = np.sort(np.random.default_rng(3).choice(len(ids), min(len(ids), 20_000), replace=False))
            flat = (source.vectors(sample) @ index._centroids.T).argmax(axis=1)
            return {"build_s": took, "file_mb": size / 2**20, "nearest_list": float(np.mean(owner[sample] == flat)),
                    "nlist": index.nlist, **status()}
        return {"build_s": time.perf_counter() - t0, "file_mb": size / 2**20, **status()}
    if args.child == "open":
        return open_library(folder, mm, ids)
    if args.child == "dupes":
        from clipgit.core.store.knn_dupes import knn_groups

        index = AnnIndex.load(index_file(folder), model="bench")
        t0 = time.perf_counter()
        groups = knn_groups(index, source, 0.95)
        took = time.perf_counter() - t0
        planted = np.load(folder / "groups.npz")
        want = {frozenset(ids[g].tolist()) for g in np.split(planted["rows"], np.cumsum(planted["sizes"])[:-1])}
        got = {frozenset(g) for g in groups}
        return {"dupes_s": took, "planted": len(want), "found": len(want & got), "extra": len(got - want), **status()}
    return answer(args, folder, source)


class _Agreeing:
    """A catalog that holds exactly the snapshot's rows and nothing after them: what opening a library whose
    snapshot is current reads (the real catalog answers these four questions from indexes and triggers)."""

    def __init__(self, stats: tuple[int, int, int]) -> None:
        self.stats = stats

    def read(self):
        import contextlib

        return contextlib.nullcontext()

    def removals_after(self, model: str, seq: int) -> list:
        return []

    def embeddings_after(self, model: str, seq: int):
        class Empty:
            def fetchmany(self, n: int) -> list:
                return []
        return Empty()

    def vector_stats(self, model: str) -> tuple[int, int, int]:
        return self.stats

    def last_removal(self, model: str) -> int:
        return 0


def write_snapshot(folder: Path, mm: np.ndarray, ids: np.ndarray) -> Path:
    """The engine's vector snapshot of these vectors (core/store/vectors.py writes it), once."""
    from clipgit.core.store import vectors

    target = vectors.VectorIndex("bench", folder).path
    if target.exists():
        return target
    n = len(ids)
    tmp = target.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        vectors.write_snapshot(fh, {"model": "bench", "last_seq": n, "last_removal": 0}, ids,
                               np.arange(1, n + 1), mm, np.arange(n))
    os.replace(tmp, target)
    return target


def open_library(folder: Path, mm: np.ndarray, ids: np.ndarray) -> dict[str, object]:
    """Open the library as the engine does (the snapshot memory-mapped, the current index file mapped by the
    keeper) and answer a first text-like query through it, then the same query exactly: each timed, with
    this process's memory."""
    import torch  # noqa: F401  # loaded in the engine for text queries: exact scores then go through it

    from clipgit.core.store.ann_keeper import AnnKeeper
    from clipgit.core.store.vectors import HEADER_BYTES, VectorIndex, id_hashes

    write_snapshot(folder, mm, ids)
    # the benchmark's own copy of the vectors is no part of a library: out of the page cache with it, so the
    # library's files (snapshot and index) stay there as they would on a user's machine
    fd = os.open(folder / "vectors.npy", os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    stats = (len(ids), int(ids.sum()), int(id_hashes(ids).sum()))
    q = np.load(folder / "queries.npy")[N_QUERIES]  # a text-like query
    t0 = time.perf_counter()
    vectors = VectorIndex("bench", folder)
    vectors.refresh(_Agreeing(stats))  # type: ignore[arg-type]
    opened = time.perf_counter() - t0
    assert vectors.rebuilds == 0 and vectors.figures() == stats
    mem_open = status()
    keeper = AnnKeeper(vectors, folder, setting="ann")
    t1 = time.perf_counter()
    keeper.top_k(q, 10)
    first_answer, route = time.perf_counter() - t1, keeper.last_route
    t2 = time.perf_counter()
    keeper.top_k(q, 10)
    second_answer = time.perf_counter() - t2
    mem_answer = status()
    keeper.wait(600)  # the checksum pass over the index file, in the background until here
    t3 = time.perf_counter()
    vectors.top_k(q, 10)
    first_exact = time.perf_counter() - t3
    read_whole = float("nan")
    if mm.nbytes < os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4:  # else it evicts the library
        t4 = time.perf_counter()  # what opening cost before the mapping: the matrix read whole (page cache warm)
        whole = np.fromfile(vectors.path, dtype=np.float16, count=mm.size, offset=HEADER_BYTES + 16 * len(ids))
        read_whole = time.perf_counter() - t4
        del whole
    return {"open_s": opened, "read_whole_s": read_whole, "first_answer_s": first_answer, "route": route,
            "second_answer_s": second_answer, "first_exact_s": first_exact, "note": keeper.note,
            "rss_open_mb": mem_open["VmRSS"], "rss_answer_mb": mem_answer["VmRSS"], **status()}


def answer(args: argparse.Namespace, folder: Path, source) -> dict[str, object]:
    from clipgit.core.store.ann import AnnIndex

    queries = np.load(folder / "queries.npy")
    out: dict[str, object] = {}
    if args.engine == "usearch":
        from usearch.index import Index

        ui = Index.restore(str(folder / "usearch.idx"))
        for ef in (64, 128, 256):
            ui.expansion_search = ef
            times, found = [], []
            for q in queries:
                t0 = time.perf_counter()
                keys = ui.search(q, 100, threads=1).keys.astype(np.int64)
                found.append(source.best(q, source.rows(keys), 10)[0])
                times.append(time.perf_counter() - t0)
            out[f"ef{ef}"] = {"times": times, "ids": [f.tolist() for f in found]}
        return {**out, **status()}
    index = AnnIndex.load(index_file(folder), model="bench")
    for q in queries[:20]:
        index.search(q, 10, source)  # warm: page in the coarse lists
    for delta in sorted({index.settings.probe_delta, *args.deltas}):
        index.probe_delta = delta
        times, found, probed = [], [], []
        for q in queries:
            t0 = time.perf_counter()
            hits = index.search(q, 10, source)
            times.append(time.perf_counter() - t0)
            found.append(hits.ids)
            probed.append(hits.probed)
        out[f"delta {delta}"] = {"times": times, "ids": [f.tolist() for f in found], "probed": probed}
    index.probe_delta = index.settings.probe_delta
    mem = status()
    picked = np.r_[0:50, N_QUERIES:N_QUERIES + 50]
    ftruth = np.load(folder / "ftruth.npy")
    auto_max = index.settings.subset_scan_max
    for j, s in enumerate(SELECTIVITIES):
        allow = np.load(folder / f"allow-{s}.npy")
        for route, limit in [r for r in (("auto", auto_max), ("index", 0), ("subset", 10**12)) if r[0] in args.routes]:
            index.settings = replace(index.settings, subset_scan_max=limit)
            times, right, routes = [], 0, set()
            for i in picked:
                t0 = time.perf_counter()
                hits = index.search(queries[i], 1, source, allow=allow)
                times.append(time.perf_counter() - t0)
                right += int(hits.ids.tolist() == [ftruth[j, i]])
                routes.add(hits.route)
            out[f"filter {s} {route}"] = {"times": times, "right": right / len(picked), "routes": sorted(routes)}
    index.settings = replace(index.settings, subset_scan_max=auto_max)
    gone = np.random.default_rng(2).choice(source.row_ids, 1000, replace=False)
    t0 = time.perf_counter()
    index.remove(gone)
    t1 = time.perf_counter()
    index.add(source.vectors(source.rows(gone)), gone)
    out["remove_1000_s"], out["add_1000_s"] = t1 - t0, time.perf_counter() - t1
    return {**out, **mem, "peak_after_filters": status()["VmHWM"]}


def run_child(what: str, folder: Path, engine: str, deltas: list[float]) -> dict:
    cmd = [sys.executable, __file__, "--child", what, "--data", str(folder), "--engine", engine,
           "--deltas", ",".join(map(str, deltas)), "--routes", ROUTES[0]]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"{what} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def bench_size(n: int, args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    folder = make_data(Path(args.dir) / f"n{n}", n)
    print(f"\n== {n:,} x 512 fp16 (data ready in {time.perf_counter() - t0:.0f} s; load {os.getloadavg()[0]:.1f})")
    truth, best = np.load(folder / "truth.npy"), np.load(folder / "truth-scores.npy")[:, 0]
    print("best cosine p5/p50/p95: image queries {:.2f} {:.2f} {:.2f}; text queries {:.2f} {:.2f} {:.2f}".format(
        *np.percentile(best[:N_QUERIES], [5, 50, 95]), *np.percentile(best[N_QUERIES:], [5, 50, 95])))
    if args.open:
        o = run_child("open", folder, "faiss", args.deltas)
        print(f"open the memory-mapped snapshot: {o['open_s'] * 1e3:.0f} ms (RSS {o['rss_open_mb']:.0f} MB; reading "
              f"its matrix whole, as before, {o['read_whole_s'] * 1e3:.0f} ms); first query through the "
              f"{o['route']} route {o['first_answer_s'] * 1e3:.0f} ms, second {o['second_answer_s'] * 1e3:.1f} ms "
              f"(RSS {o['rss_answer_mb']:.0f} MB): open + first answer "
              f"{(o['open_s'] + o['first_answer_s']) * 1e3:.0f} ms; the same query exact "
              f"{o['first_exact_s'] * 1e3:.0f} ms; RSS after {o['VmRSS']:.0f} MB (anon {o['RssAnon']:.0f}, "
              f"file {o['RssFile']:.0f}); note {o['note']!r}; load {os.getloadavg()[0]:.1f}")
        return
    ex = device_exact(folder, args.device, args.exact_queries)
    print(f"exact on {args.device}: {n:,} rows copied up in {ex['upload_s']:.1f} s ({ex['chunks']} chunks of up to "
          f"{ex['chunk_rows']:,} rows)")
    rows = [("engine", "setting", "build s", "file MB", "build peak MB", "RSS anon/file MB", "img p50/p95 ms",
             "img recall@10", "img lists", "txt p50/p95 ms", "txt recall@10", "txt lists")]
    img, txt = ex["img"], ex["txt"]
    rows.append((f"exact ({args.device} fp16)", "-", "-", "-", "-", "-", ms(img["times"]), f"{img['recall']:.4f}", "-",
                 ms(txt["times"]), f"{txt['recall']:.4f}", "-"))
    for engine in args.engine:
        built = run_child("build", folder, engine, args.deltas)
        got = run_child("answer", folder, engine, args.deltas)
        if "nearest_list" in built:
            print(f"{engine}: {built['nlist']} lists; {built['nearest_list']:.2%} of vectors in their nearest list")
        mem = f"{got['RssAnon']:.0f} / {got['RssFile']:.0f}"
        for key, val in got.items():
            if isinstance(val, dict) and "ids" in val:
                t, ids, probed = val["times"], val["ids"], val.get("probed", [0] * len(val["ids"]))
                rows.append((engine, key, f"{built['build_s']:.0f}", f"{built['file_mb']:.0f}", f"{built['VmHWM']:.0f}",
                             mem, ms(t[:N_QUERIES]), f"{recall(ids[:N_QUERIES], truth[:N_QUERIES]):.4f}",
                             f"{np.mean(probed[:N_QUERIES]):.0f}", ms(t[N_QUERIES:]),
                             f"{recall(ids[N_QUERIES:], truth[N_QUERIES:]):.4f}", f"{np.mean(probed[N_QUERIES:]):.0f}"))
        if engine == "faiss":
            filt = [("selectivity", "route", "routes taken", "p50/p95 ms", "top-1 = exact best")]
            for key, val in got.items():
                if key.startswith("filter"):
                    _, s, route = key.split()
                    filt.append((f"{float(s):.1%}", route, ",".join(val["routes"]), ms(val["times"]),
                                 f"{val['right']:.2f}"))
            extra = (f"remove 1000 ids: {got['remove_1000_s'] * 1e3:.0f} ms; "
                     f"add 1000: {got['add_1000_s'] * 1e3:.0f} ms; answering peak {got['peak_after_filters']:.0f} MB")
    print(table(rows))
    print(table(exact_rows(args.device, ex)))
    if "faiss" in args.engine:
        print(table(filt))
        print(extra)
        if n <= args.dupes_max:
            d = run_child("dupes", folder, "faiss", args.deltas)
            print(f"near-duplicates (cosine >= 0.95): {d['dupes_s']:.0f} s, planted groups found "
                  f"{d['found']}/{d['planted']}, other groups {d['extra']}, peak {d['VmHWM']:.0f} MB")


def supplied(args: argparse.Namespace) -> None:
    """Index the given vectors (ids = row numbers), answer the given queries, write the ids per query."""
    from clipgit.core.store.ann import AnnIndex, VectorSource

    mm, queries = np.load(args.vectors, mmap_mode="r"), np.load(args.queries).astype(np.float32)
    source = VectorSource(mm, np.arange(len(mm), dtype=np.int64))
    t0 = time.perf_counter()
    index = AnnIndex.build(source, model="supplied", state={})
    print(f"built over {len(mm):,} x {mm.shape[1]} in {time.perf_counter() - t0:.1f} s")
    times, out = [], np.full((len(queries), args.k), -1, dtype=np.int64)
    for i, q in enumerate(queries):
        t = time.perf_counter()
        hits = index.search(q, args.k, source)
        times.append(time.perf_counter() - t)
        out[i, : len(hits.ids)] = hits.ids
    np.save(args.out, out)
    norms = np.linalg.norm(queries, axis=1, keepdims=True)
    top, _, _ = exact_answers(mm, queries / np.where(norms > 0, norms, 1), args.k)
    print(f"p50/p95 {ms(times)} ms, recall@{args.k} {recall(out.tolist(), top):.4f}; ids written to {args.out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="100000,1000000")
    p.add_argument("--dir", default="/tmp/clipgit-scale", help="where the vector files live (10M needs 11 GB)")
    p.add_argument("--engine", default="faiss", help="faiss, usearch or both (comma-separated)")
    p.add_argument("--deltas", default="", help="extra probe_delta values to sweep, e.g. 0.04,0.06,0.1")
    p.add_argument("--exact-queries", type=int, default=30)
    p.add_argument("--device", default="cpu", help="where the exact rows scan (core/store/device_scan.py): cpu or cuda")
    p.add_argument("--dupes-max", type=int, default=1_000_000, help="run near-duplicates up to this size")
    p.add_argument("--vectors", help="run on these vectors (.npy, n x dim) instead of synthetic ones")
    p.add_argument("--queries", help="with --vectors: the queries (.npy, m x dim)")
    p.add_argument("--out", help="with --vectors: write the ids found per query here (.npy, m x k)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--routes", default="auto,index,subset",
                   help="filter routes to time (a forced subset scan of 50%% of 3M takes 10 s a query)")
    p.add_argument("--open", action="store_true",
                   help="only time opening the library as the engine does: its memory-mapped snapshot (written "
                        "once beside the vectors) and index file, the first query, then the same query exact")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.deltas = [float(x) for x in args.deltas.split(",") if x]
    ROUTES[0] = args.routes
    args.routes = args.routes.split(",")
    if args.child:
        print(json.dumps(child(args)))
    elif args.vectors:
        supplied(args)
    else:
        args.engine = args.engine.split(",")
        for n in (int(x) for x in args.sizes.split(",")):
            bench_size(n, args)


if __name__ == "__main__":
    main()
