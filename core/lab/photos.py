"""Photo-like test pictures: smooth colour fields with shapes and grain, deterministic per seed.

Tests, benchmarks and the screenshot script share them, so a random-weight
model sees inputs shaped like real photos (JPEG-friendly, not noise).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def photo(seed: int, size: tuple[int, int] = (96, 72)) -> Image.Image:
    """A smooth, photo-like picture (low-frequency colour field plus shapes and grain)."""
    rng = np.random.default_rng(seed)
    w, h = size
    small = Image.fromarray((rng.random((6, 8, 3)) * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
    arr = np.asarray(small, dtype=np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(3):
        cx, cy, r = rng.random() * w, rng.random() * h, (0.1 + rng.random() * 0.2) * min(w, h)
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        arr[mask] = rng.random(3) * 255
    arr += rng.normal(0, 4, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def make_photos(folder: Path, count: int, *, start: int = 0, ext: str = "png",
                size: tuple[int, int] = (96, 72)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        p = folder / f"img_{i:04d}.{ext}"
        photo(i, size).save(p)
        paths.append(p)
    return paths
