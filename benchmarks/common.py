"""Shared helpers for the benchmarks: full-size random models, photo-sized JPEGs, timing."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".bench"


def full_clip_dir() -> Path:
    """ViT-B/32 with random weights (`CLIPConfig()` defaults), saved once under .bench/."""
    from clipgit.core.lab.random_models import build_clip

    target = CACHE / "clip-vit-b32-random"
    if not (target / "model.safetensors").exists():
        build_clip(target, tiny=False)
    return target


def tiny_clip_dir() -> Path:
    from clipgit.core.lab.random_models import build_clip

    target = CACHE / "clip-tiny-random"
    if not (target / "model.safetensors").exists():
        build_clip(target, tiny=True)
    return target


def photo_jpegs(n: int, size: tuple[int, int] = (4000, 3000)) -> Path:
    """n distinct photo-like JPEGs of the given size (about 1-2 MB each at 12 MP), made once."""
    import numpy as np
    from PIL import Image

    folder = CACHE / f"photos-{size[0]}x{size[1]}"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        path = folder / f"IMG_{i:05d}.jpg"
        if path.exists():
            continue
        rng = np.random.default_rng(i)
        base = Image.fromarray((rng.random((12, 16, 3)) * 255).astype(np.uint8))
        img = base.resize(size, Image.Resampling.BICUBIC)
        arr = np.asarray(img, dtype=np.int16)
        cell = 4 if size[0] >= 2000 else 1
        grain = rng.integers(-6, 7, size=(-(-size[1] // cell), -(-size[0] // cell), 1), dtype=np.int16)
        arr = arr + np.repeat(np.repeat(grain, cell, axis=0), cell, axis=1)[: size[1], : size[0]]
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path, quality=90)
    return folder


def photo_folder(n: int, size: tuple[int, int] = (4000, 3000)) -> Path:
    """A folder holding exactly the first n photos (hard links, so nothing is copied)."""
    source = photo_jpegs(n, size)
    folder = CACHE / f"photos-{size[0]}x{size[1]}-first{n}"
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir())[:n]:
        link = folder / path.name
        if not link.exists():
            os.link(path, link)
    return folder


def unique_jpegs(size: tuple[int, int], n: int, bases: int = 16) -> Path:
    """n JPEGs of one size, each with its own content fingerprint: `bases` photos, each copy given a comment
    segment (FF FE) of its own. Writing copies is seconds where encoding thousands of photos is minutes."""
    source = photo_jpegs(min(bases, n), size)
    folder = CACHE / f"unique-{size[0]}x{size[1]}-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    originals = [p.read_bytes() for p in sorted(source.iterdir())[: min(bases, n)]]
    for i in range(n):
        path = folder / f"IMG_{i:06d}.jpg"
        if not path.exists():
            data = originals[i % len(originals)]
            note = f"clipgit benchmark copy {i}".encode()
            path.write_bytes(data[:2] + b"\xff\xfe" + (len(note) + 2).to_bytes(2, "big") + note + data[2:])
    return folder


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


class Timer:
    def __enter__(self) -> Timer:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)
