"""Benchmark 3: re-index an unchanged library of 100,000 (tiny) files.

Prints: ours (Engine.index on the unchanged library: a stat per file), the
naive way (read and hash every file again to see whether it changed), and the
limit (walking the tree and stat-ing every file alone, no catalog).

    python benchmarks/rescan.py [--n 100000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import struct
import time
from pathlib import Path

from common import CACHE, Timer, table, tiny_clip_dir


def bmp(i: int) -> bytes:
    """A distinct 2x2 24-bit BMP for each i."""
    px = bytes([i & 255, (i >> 8) & 255, (i >> 16) & 255]) * 2 + b"\x00\x00"
    data = px * 2
    header = b"BM" + struct.pack("<IHHI", 54 + len(data), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, 2, 2, 1, 24, 0, len(data), 2835, 2835, 0, 0)
    return header + info + data


def make_tree(n: int) -> Path:
    root = CACHE / f"rescan-{n}" / "pics"
    marker = root.parent / "complete"
    if marker.exists():
        return root
    for i in range(n):
        folder = root / f"{i // 1000:03d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"img_{i:06d}.bmp").write_bytes(bmp(i))
    marker.touch()
    return root


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()

    from clipgit.core.config import Settings
    from clipgit.core.engine import Engine
    from clipgit.core.scan import walk

    t0 = time.perf_counter()
    root = make_tree(args.n)
    settings = Settings(data_dir=root.parent / "data", clip_model=str(tiny_clip_dir()), device="cpu",
                        precision="fp32", batch_size=256)
    with Engine(settings) as engine:
        first = engine.index([str(root)])
    print(f"tree of {args.n:,} files ready, first index: {first.embedded:,} embedded "
          f"({time.perf_counter() - t0:.1f} s)")

    with Engine(settings) as engine, Timer() as t:  # a fresh process-like start: nothing cached in memory
            report = engine.index([str(root)])
    assert report.unchanged == args.n and report.embedded == 0, report.as_dict()
    ours = t.wall

    with Timer() as t:
        for dirpath, _, names in os.walk(root):
            for name in names:
                with open(os.path.join(dirpath, name), "rb") as fh:
                    hashlib.blake2b(fh.read(), digest_size=16).digest()
    naive = t.wall

    with Timer() as t:
        walked = walk(str(root))
    assert len(walked.files) == args.n
    limit = t.wall

    print()
    print(table([
        ("", "seconds", "files/s"),
        ("ours (Engine.index, unchanged)", f"{ours:.2f}", f"{args.n / ours:,.0f}"),
        ("naive (read + hash every file)", f"{naive:.2f}", f"{args.n / naive:,.0f}"),
        ("limit (walk + stat alone)", f"{limit:.2f}", f"{args.n / limit:,.0f}"),
    ]))
    print(f"target: <= 5 s for 100,000 files ({'met' if ours <= 5 else 'NOT met'})")


if __name__ == "__main__":
    main()
