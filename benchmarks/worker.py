"""Benchmark: what one decode worker process spends on each file, and the page faults it takes.

Why: a worker frees and allocates buffers of many sizes for every file (the file's bytes, its decoded
pixels, its crop), and glibc gave the top of its heap back to the kernel again and again and faulted it in
afterwards; a worker now keeps that memory (`decode_pool._steady_heap`). Prints, side by side, per file:
ours (a worker started as the pool starts one), the naive way (a worker whose heap is left to glibc's own
adjustment), and the limit (in the same worker as ours, the decode, crop and normalise alone, on bytes
already in memory: no read, fingerprint or write). Each worker prepares the files twice and the second
pass is timed, as a long run sees them. By default the files mix sizes as a photo folder does: 640x480
JPEGs with a 12 MP and a 1920x1080 one after every sixth.

    python benchmarks/worker.py [--size mixed|640x480|4000x3000] [--n 96] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import time
from concurrent.futures import ProcessPoolExecutor

from common import photo_jpegs, table, unique_jpegs


def prepare_twice(paths: list[str], alone: bool = False) -> tuple[float, float]:
    """Seconds and page faults a file, in the second of two passes over `paths`: read, fingerprint, draft
    decode, crop and normalise into a region of shared memory, as a worker does (`alone`: the decode, crop
    and normalise of bytes read beforehand)."""
    from clipgit.core.decode.image import Preprocess, decode, read_bytes
    from clipgit.core.decode.pool import CHUNK, read_and_crop_many
    from clipgit.core.decode.shared_block import SharedBlock
    from clipgit.core.scan import FileStat

    pp = Preprocess()
    stats = [FileStat(p, 0, 0) for p in paths]
    datas = [read_bytes(p) for p in paths] if alone else []
    block = SharedBlock(1, CHUNK * (pp.input_bytes + 64))
    try:
        region = (block.path, 0, block.region_bytes)
        for _ in range(2):
            faults, started = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
            if alone:
                for data in datas:
                    pp(decode(data, draft_size=pp.draft_size)[0])
            else:
                for i in range(0, len(stats), CHUNK):
                    read_and_crop_many(stats[i:i + CHUNK], pp, 10**9, region)
            seconds = time.perf_counter() - started
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    finally:
        block.close()
    return seconds / len(paths), faults / len(paths)


def in_worker(paths: list[str], ours: bool, alone: bool = False) -> tuple[float, float]:
    from clipgit.core.decode import pool as decode_pool

    init = decode_pool._start_worker if ours else decode_pool._nice  # naive: the priority alone
    with ProcessPoolExecutor(1, mp_context=decode_pool.start_method(), initializer=init) as pool:
        return pool.submit(prepare_twice, paths, alone).result()


def files(size: str, n: int) -> tuple[list[str], str]:
    if size != "mixed":
        width, height = (int(x) for x in size.split("x"))
        return sorted(str(p) for p in unique_jpegs((width, height), n).iterdir())[:n], f"{n} JPEGs of {size}"
    small = sorted(str(p) for p in unique_jpegs((640, 480), n).iterdir())[:n]
    big = sorted(str(p) for p in photo_jpegs(16, (4000, 3000)).iterdir())[:16]
    wide = sorted(str(p) for p in photo_jpegs(16, (1920, 1080)).iterdir())[:16]
    mixed: list[str] = []
    for i, path in enumerate(small):
        mixed.append(path)
        if i % 6 == 0:
            mixed += [big[i // 6 % len(big)], wide[i // 6 % len(wide)]]
    return mixed, f"{len(mixed)} JPEGs: {n} of 640x480, each sixth followed by one of 4000x3000 and one of 1920x1080"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="mixed")
    ap.add_argument("--n", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    paths, what = files(args.size, args.n)
    runs: dict[str, list[tuple[float, float]]] = {"ours": [], "naive": [], "limit": []}
    for _ in range(args.repeats):  # taken in turn, so a slower moment of the machine falls on each
        runs["ours"].append(in_worker(paths, ours=True))
        runs["naive"].append(in_worker(paths, ours=False))
        runs["limit"].append(in_worker(paths, ours=True, alone=True))
    names = {"ours": "ours: a pool worker (keeps the memory it frees)",
             "naive": "naive: a worker whose heap glibc trims",
             "limit": "limit: decode, crop, normalise alone (bytes in memory)"}
    rows = [("", "ms a file", "page faults a file")]
    for key, label in names.items():
        ms = [s * 1e3 for s, _ in runs[key]]
        faults = [f for _, f in runs[key]]
        rows.append((label, f"{min(ms):.2f}-{max(ms):.2f}", f"{min(faults):.0f}-{max(faults):.0f}"))
    print(f"{what}, {args.repeats} runs each\n" + table(rows))


if __name__ == "__main__":
    main()
