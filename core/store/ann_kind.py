"""When a library is worth an approximate index: the crossover, from measurements (docs/scale.md).

Why a rule at all: an exact scan has no build, no drift and recall 1.0, and its time grows linearly with
the library (about 36 ms for 1M x 512 fp16 on 2 CPU cores, measured again by benchmarks/scale.py). The
approximate index answers in a few milliseconds at any size here, but costs minutes to build (about
5 min per million vectors on 2 cores) and a file per model. So: exact while a scan stays inside the
interactive budget and the matrix fits comfortably in memory; approximate beyond. On CUDA the matrix
lives on the card and search stays exact (100M x 512 fp16 scans in about 25 ms on an H200).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

# Measured on 2 cores (docs/scale.md): exact fp16 scan time per element (vector x dimension), per core.
EXACT_NS_PER_ELEMENT_CORE = 0.14  # 36 ms for 1M x 512 on 2 cores -> 0.14 ns per element on each core
EXACT_BUDGET_MS = 50.0  # a search typed in the app should answer within a frame or three
MEMORY_SHARE = 0.5  # an exact scan wants the whole fp16 matrix resident: at most this share of RAM
BANDWIDTH_CORES = 8  # past this many cores an fp16 scan is bound by memory bandwidth, not by cores

Kind = Literal["exact", "ann"]


@dataclass(frozen=True)
class Machine:
    """What the crossover depends on. `cuda` comes from the owner (this module never imports torch)."""

    cores: int
    ram_bytes: int
    cuda: bool = False

    @classmethod
    def here(cls, cuda: bool = False) -> Machine:
        try:
            cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cores = os.cpu_count() or 1
        try:
            ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            ram = 8 << 30
        return cls(cores=max(1, cores), ram_bytes=int(ram), cuda=cuda)


def exact_scan_ms(n: int, dim: int, machine: Machine) -> float:
    """Estimated time of one exact fp16 scan of n x dim on this machine's CPU."""
    cores = max(1, min(machine.cores, BANDWIDTH_CORES))
    return n * dim * EXACT_NS_PER_ELEMENT_CORE / cores / 1e6


def choose_kind(n: int, dim: int, machine: Machine) -> Kind:
    """"exact" while a scan is fast and the fp16 matrix fits; "ann" past the crossover.

    On 2 cores at 512-d the crossover is about 1.4M vectors (the scan passes 50 ms); on 8 cores about
    5.6M; on CUDA always exact.
    """
    if machine.cuda:
        return "exact"
    if n * dim * 2 > machine.ram_bytes * MEMORY_SHARE:
        return "ann"
    return "ann" if exact_scan_ms(n, dim, machine) > EXACT_BUDGET_MS else "exact"


def crossover_count(dim: int, machine: Machine) -> int:
    """The library size at which `choose_kind` turns to "ann" (0: never, on CUDA): what `status` names. Found by
    bisecting `choose_kind` itself, so the rule lives in one place."""
    if machine.cuda:
        return 0
    exact, ann = 0, 1
    while choose_kind(ann, dim, machine) == "exact":
        exact, ann = ann, ann * 2
    while ann - exact > 1:
        middle = (exact + ann) // 2
        exact, ann = (middle, ann) if choose_kind(middle, dim, machine) == "exact" else (exact, middle)
    return ann
