"""The approximate index's sizes and probe settings, and the defaults measured for each library size.

Why apart: these numbers are what docs/scale.md measured (lists per vector, how far to probe, how many
candidates to re-rank); keeping them in one small file keeps the measured choices visible beside their
reasons, apart from the index's mechanics in ann.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class AnnSettings:
    """Sizes of the index; `for_size` holds the measured defaults. The probe settings may change later.

    Probing adapts per query: every list whose centroid scores within `probe_delta` of the best one,
    at least `nprobe` and at most `probe_max` lists. An image query's centroid scores fall off fast and
    it probes few lists; a text query sits about equally far from many (the modality gap) and probes
    more, which is what its recall needs (docs/scale.md).
    """

    nlist: int
    nprobe: int = 16
    probe_delta: float = 0.08
    probe_max: int = 512
    candidates: int = 100  # exact re-rank pool for k <= 10; k * 10 above
    train_points: int = 100_000
    subset_scan_max: int = 20_000  # an allow-list this small is scanned exactly (faster than the index)
    seed: int = 0

    @classmethod
    def for_size(cls, n: int) -> AnnSettings:
        """About 4 sqrt(n) lists (a power of two), each of at least ~32 vectors (one list below 64 vectors:
        then every vector is compared with every other, as near-duplicates want at that size)."""
        nlist = 1 << max(4, round(math.log2(max(16.0, 4 * math.sqrt(max(n, 1))))))
        nlist = max(1, min(nlist, 65_536, 1 << int(math.log2(max(1, n // 32)))))
        return cls(nlist=nlist, nprobe=min(nlist, 16), probe_delta=probe_delta_for(nlist),
                   probe_max=max(min(nlist, 16), nlist // 8), train_points=min(n, max(100_000, 32 * nlist), 400_000))


def probe_delta_for(nlist: int) -> float:
    """How far below its best list's score a list may score and still be probed. The more lists, the
    denser they lie: with 0.08, a text query probed 74 of 4096 lists at 1M vectors (p50 4.8 ms, p95 34,
    recall@10 0.998) and 361 of 16384 at 10M (27 ms, 0.997); 0.06 probes 31 (3.9 ms, p95 8.2, 0.9975) and
    137 (12 ms, 0.995): docs/scale.md. Applied at load too: it is a search-time setting."""
    return 0.06 if nlist >= 4_096 else 0.08
