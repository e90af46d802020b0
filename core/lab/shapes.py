"""Captioned pictures of coloured shapes: the offline demo's world, and training data for its models.

Caption grammar, exactly: one shape, "a {color} {shape}", or two, "a {color} {shape} and a {color}
{shape}" (left one first). Any size, position, background (plain, gradient or noisy, never the
colour of a shape on it) and picture size.

`varied=True` draws them the many ways a person's editor would: any rotation, any aspect ratio,
smaller shapes, anti-aliased or not, with or without an outline, some blurred, some saved as JPEG.
The demo models were trained on both kinds, so "a red square" finds a red square however drawn.
"""

from __future__ import annotations

import io
import json
import math
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

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


def _outline_points(shape: str, box: tuple[float, float, float, float], turn: float) -> list[tuple[float, float]]:
    """A square, triangle or star's corners inside `box`, turned by `turn` radians about its centre."""
    x0, y0, x1, y1 = box
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    # corners on the circle of radius r: turned any way, the shape stays inside its box
    if shape in ("square", "triangle"):
        n = 4 if shape == "square" else 3
        corners = [(r * math.cos(a), r * math.sin(a)) for a in (-math.pi / 2 + 2 * math.pi * j / n for j in range(n))]
    else:
        corners = [((r if j % 2 == 0 else r * 0.45) * math.cos(-math.pi / 2 + j * math.pi / 5),
                    (r if j % 2 == 0 else r * 0.45) * math.sin(-math.pi / 2 + j * math.pi / 5)) for j in range(10)]
    c, s = math.cos(turn), math.sin(turn)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in corners]


def _draw(draw: ImageDraw.ImageDraw, shape: str, box: tuple[float, float, float, float],
          color: tuple[int, int, int], turn: float | None = None, outline: tuple[int, int, int] | None = None,
          line: int = 0) -> None:
    """turn None: upright and filling the box (the plain pictures); else corners on its circle, turned."""
    x0, y0, x1, y1 = box
    if shape == "circle":
        draw.ellipse(box, fill=color, outline=outline, width=line)
    elif turn is not None:
        draw.polygon(_outline_points(shape, box, turn), fill=color, outline=outline, width=line)
    elif shape == "square":
        draw.rectangle(box, fill=color)
    elif shape == "triangle":
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=color)
    else:
        draw.polygon(_outline_points(shape, box, 0.0), fill=color)


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


def varied_picture(rng: random.Random, shapes: int = 1, sides: tuple[int, int] = (96, 300)) -> tuple[Image.Image, str]:
    """One picture drawn another way, and its caption (left shape first): see the module's docstring."""
    w, h = rng.randint(*sides), rng.randint(*sides)
    picks = [(rng.choice(list(COLORS)), rng.choice(SHAPES)) for _ in range(shapes)]
    while shapes == 2 and picks[0] == picks[1]:
        picks[1] = (rng.choice(list(COLORS)), rng.choice(SHAPES))
    smooth = rng.random() < 0.6  # anti-aliased: drawn at 4x and shrunk
    k = 4 if smooth else 1
    img = _background(rng, (w * k, h * k), [COLORS[c] for c, _ in picks])
    draw = ImageDraw.Draw(img)
    slots = [(0.0, 1.0)] if shapes == 1 else [(0.0, 0.5), (0.5, 1.0)]
    for (color, shape), (left, right) in zip(picks, slots):
        span = (right - left) * w * k
        side = rng.uniform(0.3, 0.85) * min(span, h * k)
        x0 = left * w * k + rng.uniform(0, span - side)
        y0 = rng.uniform(0, h * k - side)
        rgb = COLORS[color]
        outline, line = None, 0
        if rng.random() < 0.3:  # an outline a shade darker or lighter than the fill
            shade = 0.55 if sum(rgb) > 200 else 1.6
            r, g, b = (min(255, int(v * shade) + (30 if shade > 1 else 0)) for v in rgb)
            outline = (r, g, b)
            line = max(1, int(side * rng.uniform(0.02, 0.08)))
        _draw(draw, shape, (x0, y0, x0 + side, y0 + side), rgb, rng.uniform(0, 2 * math.pi), outline, line)
    if smooth:
        img = img.resize((w, h), Image.Resampling.LANCZOS)
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0) * min(w, h) / 128))
    if rng.random() < 0.4:  # JPEG artefacts
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=rng.randint(30, 90))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return img, " and ".join(f"a {c} {s}" for c, s in picks)


def make_gallery(folder: Path, count: int, *, seed: int = 0, size: tuple[int, int] = (128, 128),
                 two_shape_fraction: float = 0.5, varied: bool = False) -> list[tuple[Path, str]]:
    """Write `count` pictures and a captions.jsonl (an `eval` / `train` dataset) into `folder`.

    varied: pictures of 96 to 300 px a side drawn the many ways `varied_picture` does (`size` is then unused).
    """
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    with (folder / "captions.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(count):
            shapes = 2 if rng.random() < two_shape_fraction else 1
            img, caption = varied_picture(rng, shapes) if varied else picture(rng, size, shapes)
            path = folder / f"shape_{i:05d}.png"
            img.save(path)
            fh.write(json.dumps({"image": path.name, "caption": caption}) + "\n")
            out.append((path, caption))
    return out
