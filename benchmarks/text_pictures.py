"""Pictures of text whose every word is known, for measuring OCR; and pictures with no text at all.

Why generated: recall needs the truth, and no labelled photo set can be fetched here. The kinds are the ones a
photo library holds: screenshots (small UI text, light and dark themes), receipts photographed on a table
(monospace, turned a few degrees, JPEG), signs and posters on photo-like backgrounds (large coloured text,
some of it turned 90 degrees), slides, and photo-like pictures with no text (the false-positive check).

A word's size is the font size in pixels at the picture's full resolution (a 12 px font has capitals about
9 px tall). Fonts come from Debian's fonts-dejavu, fonts-liberation and fonts-noto-core where installed,
else Pillow's own font.

    python benchmarks/text_pictures.py --n 40 --out /tmp/ocr-set    # writes pictures + truth.json
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation",
             "/usr/share/fonts/truetype/noto")
FONT_FILES = {
    "sans": ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "NotoSans-Regular.ttf", "DejaVuSansCondensed.ttf"),
    "bold": ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf", "NotoSans-Bold.ttf", "LiberationSerif-Bold.ttf"),
    "serif": ("DejaVuSerif.ttf", "LiberationSerif-Regular.ttf", "NotoSerif-Regular.ttf", "NotoSerif-Italic.ttf"),
    "mono": ("DejaVuSansMono.ttf", "LiberationMono-Regular.ttf", "NotoSansMono-Regular.ttf"),
}
WORDS = (  # noqa: SIM905  (a paragraph reads better than 193 quoted words)
    "apple garden window coffee market station river mountain winter summer orange purple yellow silver bridge castle "
    "forest island harbor museum library theatre ticket dinner breakfast lunch bread butter cheese tomato potato "
    "pepper salad soup chicken salmon burger pizza pasta noodle cookie muffin sugar honey lemon melon cherry grape "
    "banana mango peach plum water juice bottle glass paper pencil marker folder document invoice receipt total "
    "amount change credit debit cash price discount member points thanks welcome visit again open closed entrance "
    "exit parking airport terminal platform gate train ticket boarding passport hotel room floor level north south "
    "east west street avenue road square settings profile account privacy security network display sound battery "
    "update download upload search filter sort export import delete rename copy paste share print preview cancel save "
    "submit project budget meeting agenda results growth revenue quarter annual report summary chapter review concert "
    "festival exhibition opening season holiday birthday wedding family friends party music dance movie cinema "
    "gallery studio workshop school college lesson teacher student science history planet ocean desert valley canyon "
    "glacier volcano meadow village city country border travel journey café Zürich naïve façade señor crème Straße "
    "São Paulo Málaga Köln Genève"
).split()


@dataclass
class Picture:
    name: str
    kind: str
    words: list[tuple[str, int]] = field(default_factory=list)  # (word, font px at full resolution)


def _fonts(style: str) -> list[str]:
    found = [str(Path(d) / f) for f in FONT_FILES[style] for d in FONT_DIRS if (Path(d) / f).exists()]
    return found or [""]


def _font(rng: random.Random, style: str, size: int) -> ImageFont.FreeTypeFont:
    path = rng.choice(_fonts(style))
    if not path:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(path, size)


def _photo(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A photo-like background: smooth colour fields, soft blobs, grain. No edges that read as letters."""
    nr = np.random.default_rng(rng.randrange(1 << 30))
    small_size = (max(8, size[0] // 8), max(8, size[1] // 8))  # drawn and blurred small, then enlarged: fast
    small = Image.fromarray((nr.random((6, 8, 3)) * 255).astype(np.uint8)).resize(small_size,
                                                                                   Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(small)
    for _ in range(rng.randint(3, 9)):
        x, y = rng.randrange(small_size[0]), rng.randrange(small_size[1])
        r = rng.randint(small_size[0] // 12, small_size[0] // 3)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
    blurred = small.filter(ImageFilter.GaussianBlur(max(1, small_size[0] // 80))).resize(size, Image.Resampling.BICUBIC)
    arr = np.asarray(blurred, dtype=np.int16) + nr.integers(-8, 9, size=(size[1], size[0], 1), dtype=np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _texture(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """Hard negatives: stripes, tiles, bricks and foliage-like noise, the patterns a detector may take for text."""
    img = _photo(rng, size)
    draw = ImageDraw.Draw(img)
    kind = rng.choice(("stripes", "tiles", "bricks", "foliage"))
    w, h = size
    colour = tuple(rng.randrange(256) for _ in range(3))
    if kind == "stripes":
        step = rng.randint(8, 40)
        for x in range(0, w, step):
            draw.line((x, 0, x + rng.randint(-40, 40), h), fill=colour, width=max(1, step // 4))
    elif kind in ("tiles", "bricks"):
        step = rng.randint(30, 120)
        for y in range(0, h, step):
            offset = (step // 2) * ((y // step) % 2) if kind == "bricks" else 0
            draw.line((0, y, w, y), fill=colour, width=3)
            for x in range(-offset, w, step * (2 if kind == "bricks" else 1)):
                draw.line((x, y, x, y + step), fill=colour, width=3)
    else:
        nr = np.random.default_rng(rng.randrange(1 << 30))
        leaves = Image.fromarray((nr.random((h // 8, w // 8)) * 255).astype(np.uint8)).resize(size)
        green = Image.new("RGB", size, (40, 110, 40))
        img = Image.composite(green, img, leaves.point(lambda v: 255 if v > 150 else 0))
    return img


def _line(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(WORDS) for _ in range(n)]


def _put(canvas: Image.Image, pic: Picture, rng: random.Random, xy: tuple[int, int], words: list[str],
         font: ImageFont.FreeTypeFont, fill: tuple[int, ...], angle: float = 0.0) -> tuple[int, int]:
    """Draw a line of words (turned by angle degrees about its start) and record them; returns its size."""
    text = " ".join(words)
    left, top, right, bottom = font.getbbox(text)
    tw, th = right - left + 4, bottom - top + 4
    if angle == 0:
        ImageDraw.Draw(canvas).text((xy[0] - left, xy[1] - top), text, font=font, fill=fill)
    else:
        layer = Image.new("RGBA", (tw, th), (0, 0, 0, 0))
        ImageDraw.Draw(layer).text((2 - left, 2 - top), text, font=font, fill=(*fill[:3], 255))
        layer = layer.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
        canvas.paste(layer, xy, layer)
        tw, th = layer.size
    pic.words += [(w, int(font.size)) for w in words]
    return tw, th


def screenshot(rng: random.Random, pic: Picture) -> Image.Image:
    w, h = rng.choice(((1280, 800), (1920, 1080), (1440, 900)))
    dark = rng.random() < 0.4
    bg, fg = ((30, 30, 34), (220, 220, 220)) if dark else ((245, 245, 247), (30, 30, 30))
    img = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, w, 36), fill=(60, 60, 66) if dark else (225, 225, 230))
    _put(img, pic, rng, (16, 10), _line(rng, 3), _font(rng, "sans", rng.choice((13, 14))), fg)
    side = rng.randint(180, 260)
    draw.rectangle((0, 36, side, h), fill=(40, 40, 46) if dark else (235, 235, 240))
    y = 56
    for _ in range(rng.randint(8, 16)):
        _, th = _put(img, pic, rng, (20, y), _line(rng, 1), _font(rng, "sans", rng.choice((12, 13, 14))), fg)
        y += th + rng.randint(12, 20)
        if y > h - 40:
            break
    y = 60
    while y < h - 80:
        size = rng.choice((12, 13, 14, 15, 16, 18, 20, 24))
        font = _font(rng, rng.choice(("sans", "serif", "bold")), size)
        low, high = (60, 256) if dark else (0, 120)
        colour = tuple(rng.randrange(low, high) for _ in range(3))
        _, th = _put(img, pic, rng, (side + 30, y), _line(rng, rng.randint(2, 6)), font, colour)
        y += th + rng.randint(10, 30)
    bx = side + 30
    for _ in range(rng.randint(1, 3)):
        font = _font(rng, "sans", 14)
        draw.rounded_rectangle((bx, h - 60, bx + 110, h - 28), 6, fill=(0, 110, 220))
        _put(img, pic, rng, (bx + 12, h - 52), _line(rng, 1), font, (255, 255, 255))
        bx += 130
    return img


def receipt(rng: random.Random, pic: Picture) -> Image.Image:
    w, h = rng.choice(((1500, 2000), (3000, 4000)))
    img = _photo(rng, (w, h))
    scale = w / 1500
    size = int(rng.choice((18, 20, 22, 26)) * scale)
    font = _font(rng, "mono", size)
    lines = [_line(rng, rng.randint(1, 3)) for _ in range(rng.randint(10, 18))]
    paper = Image.new("RGB", (int(w * 0.55), int(len(lines) * size * 1.6 + 4 * size)), (250, 248, 240))
    y = 2 * size
    for words in lines:
        _put(paper, pic, rng, (size, y), [*words], font, (20, 20, 20))
        price = f"{rng.randint(1, 99)}.{rng.randint(0, 99):02d}"
        ImageDraw.Draw(paper).text((paper.width - 6 * size, y), price, font=font, fill=(20, 20, 20))
        y += int(size * 1.6)
    turned = paper.convert("RGBA").rotate(rng.uniform(-5, 5), expand=True, resample=Image.Resampling.BICUBIC)
    img.paste(turned, ((w - turned.width) // 2, (h - turned.height) // 3), turned)
    return img


def sign(rng: random.Random, pic: Picture) -> Image.Image:
    w, h = rng.choice(((4000, 3000), (2000, 1500), (1600, 1200)))
    img = _photo(rng, (w, h))
    scale = w / 2000
    for _ in range(rng.randint(1, 3)):
        size = int(rng.choice((40, 60, 90, 140)) * scale)
        font = _font(rng, rng.choice(("bold", "sans", "serif")), size)
        words = _line(rng, rng.randint(1, 3))
        board = tuple(rng.randrange(256) for _ in range(3))
        ink = (255, 255, 255) if sum(board) < 380 else (10, 10, 10)
        left, top, right, bottom = font.getbbox(" ".join(words))
        panel = Image.new("RGBA", (right - left + size, bottom - top + size), (*board, 255))
        probe = Picture("", "")
        _put(panel, probe, rng, (size // 2, size // 2), words, font, ink)
        pic.words += probe.words
        angle = rng.choice((90, -90)) if rng.random() < 0.25 else rng.uniform(-5, 5)
        panel = panel.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
        if panel.width >= w or panel.height >= h:
            pic.words = pic.words[: -len(probe.words)]
            continue
        img.paste(panel, (rng.randrange(w - panel.width), rng.randrange(h - panel.height)), panel)
    return img


def slide(rng: random.Random, pic: Picture) -> Image.Image:
    w, h = rng.choice(((1920, 1080), (1280, 720)))
    scale = w / 1920
    bg = rng.choice(((255, 255, 255), (20, 40, 80), (245, 240, 225)))
    fg = (255, 255, 255) if bg[0] < 100 else (25, 25, 25)
    img = Image.new("RGB", (w, h), bg)
    style = rng.choice(("sans", "serif", "bold"))
    _put(img, pic, rng, (int(90 * scale), int(70 * scale)), _line(rng, rng.randint(2, 4)),
         _font(rng, "bold", int(rng.choice((56, 64, 72)) * scale)), fg)
    y = int(220 * scale)
    size = int(rng.choice((28, 32, 36)) * scale)
    for _ in range(rng.randint(3, 6)):
        _, th = _put(img, pic, rng, (int(120 * scale), y), _line(rng, rng.randint(2, 5)), _font(rng, style, size), fg)
        y += th + int(size * 0.8)
    footer = _font(rng, "sans", max(12, int(18 * scale)))
    _put(img, pic, rng, (int(90 * scale), h - int(50 * scale)), _line(rng, 2), footer, fg)
    return img


def no_text(rng: random.Random, pic: Picture) -> Image.Image:
    size = rng.choice(((4000, 3000), (1920, 1080), (1600, 1200)))
    return _texture(rng, size) if rng.random() < 0.5 else _photo(rng, size)


KINDS = {"screenshot": screenshot, "receipt": receipt, "sign": sign, "slide": slide, "no-text": no_text}


def make_set(out: Path, n: int, seed: int = 0, quick: bool = False) -> list[Picture]:
    """n pictures cycling through the kinds, written to out with truth.json; reused when already there."""
    out.mkdir(parents=True, exist_ok=True)
    truth = out / "truth.json"
    if truth.exists():
        saved = json.loads(truth.read_text())
        if saved.get("n") == n and saved.get("seed") == seed and saved.get("quick") == quick:
            return [Picture(p["name"], p["kind"], [tuple(w) for w in p["words"]]) for p in saved["pictures"]]
    pictures = []
    kinds = list(KINDS)
    for i in range(n):
        rng = random.Random(seed * 100_003 + i)
        kind = kinds[i % len(kinds)]
        pic = Picture(f"{i:04d}-{kind}", kind)
        img = KINDS[kind](rng, pic)
        if quick and max(img.size) > 1600:
            factor = 1600 / max(img.size)
            img = img.resize((round(img.width * factor), round(img.height * factor)), Image.Resampling.LANCZOS)
            pic.words = [(word, max(1, round(px * factor))) for word, px in pic.words]
        if kind in ("screenshot", "slide") and rng.random() < 0.5:
            pic.name += ".png"
            img.save(out / pic.name)
        else:
            pic.name += ".jpg"
            img.save(out / pic.name, quality=rng.choice((60, 75, 90)))
        pictures.append(pic)
    truth.write_text(json.dumps({"n": n, "seed": seed, "quick": quick, "pictures": [asdict(p) for p in pictures]}))
    return pictures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(".bench/ocr-set"))
    ap.add_argument("--quick", action="store_true", help="pictures at most 1600 px a side")
    args = ap.parse_args()
    pictures = make_set(args.out, args.n, args.seed, args.quick)
    print(f"{len(pictures)} pictures, {sum(len(p.words) for p in pictures)} words in {args.out}")


if __name__ == "__main__":
    main()
