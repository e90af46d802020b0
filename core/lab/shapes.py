"""Captioned pictures of coloured shapes: the offline demo's world, and training data for its models.

Caption grammar, exactly: one shape, "a {color} {shape}", or two, "a {color} {shape} and a {color}
{shape}" (left one first). Any size, position, background (plain, gradient or noisy, never the
colour of a shape on it) and picture size.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30), "green": (30, 170, 50), "blue": (30, 60, 220), "yellow": (240, 220, 30),
    "purple": (140, 40, 170), "orange": (250, 140, 20), "white": (250, 250, 250), "black": (15, 15, 15),
}
SHAPES = ("circle", "square", "triangle", "star")


def _far_color(rng: random.Random, avoid: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    """A background colour well away from every shape colour drawn on it."""
    for _ in range(200):
        c = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if all(math.dist(c, a) > 120 for a in avoid):
            return c
    return (128, 128, 128) if all(math.dist((128, 128, 128), a) > 60 for a in avoid) else (0, 128, 128)


def _background(rng: random.Random, size: tuple[int, int], avoid: list[tuple[int, int, int]]) -> Image.Image:
    w, h = size
    kind = rng.choice(("plain", "gradient", "noisy"))
    a = np.array(_far_color(rng, avoid), dtype=np.float32)
    if kind == "plain":
        arr = np.broadcast_to(a, (h, w, 3)).copy()
    elif kind == "gradient":
        b = np.array(_far_color(rng, avoid), dtype=np.float32)
        t = np.linspace(0, 1, w if rng.random() < 0.5 else h, dtype=np.float32)
        line = a[None, :] * (1 - t[:, None]) + b[None, :] * t[:, None]
        arr = np.broadcast_to(line[None, :, :], (h, w, 3)).copy() if len(t) == w else \
            np.broadcast_to(line[:, None, :], (h, w, 3)).copy()
    else:
        noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 18, (h, w, 3)).astype(np.float32)
        arr = a + noise
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _draw(draw: ImageDraw.ImageDraw, shape: str, box: tuple[float, float, float, float],
          color: tuple[int, int, int]) -> None:
    x0, y0, x1, y1 = box
    if shape == "circle":
        draw.ellipse(box, fill=color)
    elif shape == "square":
        draw.rectangle(box, fill=color)
    elif shape == "triangle":
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=color)
    else:
        cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
        points = []
        for k in range(10):
            radius = r if k % 2 == 0 else r * 0.45
            angle = -math.pi / 2 + k * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
        draw.polygon(points, fill=color)


def picture(rng: random.Random, size: tuple[int, int] = (128, 128), shapes: int = 1) -> tuple[Image.Image, str]:
    """One picture and its caption; with two shapes, the left one is named first."""
    w, h = size
    picks = [(rng.choice(list(COLORS)), rng.choice(SHAPES)) for _ in range(shapes)]
    while shapes == 2 and picks[0] == picks[1]:
        picks[1] = (rng.choice(list(COLORS)), rng.choice(SHAPES))
    img = _background(rng, size, [COLORS[c] for c, _ in picks])
    draw = ImageDraw.Draw(img)
    slots = [(0.0, 1.0)] if shapes == 1 else [(0.0, 0.5), (0.5, 1.0)]
    for (color, shape), (left, right) in zip(picks, slots):
        span = (right - left) * w
        side = rng.uniform(0.35, 0.85) * min(span, h)
        x0 = left * w + rng.uniform(0, span - side)
        y0 = rng.uniform(0, h - side)
        _draw(draw, shape, (x0, y0, x0 + side, y0 + side), COLORS[color])
    caption = " and ".join(f"a {c} {s}" for c, s in picks)
    return img, caption


def make_gallery(folder: Path, count: int, *, seed: int = 0, size: tuple[int, int] = (128, 128),
                 two_shape_fraction: float = 0.5) -> list[tuple[Path, str]]:
    """Write `count` pictures and a captions.jsonl (an `eval` / `train` dataset) into `folder`."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    with (folder / "captions.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(count):
            img, caption = picture(rng, size, 2 if rng.random() < two_shape_fraction else 1)
            path = folder / f"shape_{i:05d}.png"
            img.save(path)
            fh.write(json.dumps({"image": path.name, "caption": caption}) + "\n")
            out.append((path, caption))
    return out
