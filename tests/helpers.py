"""Helpers several test modules share (a test module never imports another: tests/test_import_rule.py).

Heavy libraries (Textual, torch, transformers) are imported inside the helper that needs them, so a test
that only saves a photo does not pay for them.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from clipgit.core.lab.photos import make_photos, photo

if TYPE_CHECKING:
    from textual.pilot import Pilot
    from textual.widgets import Static

    from clipgit.core.decode.jpeg_header import RawJpeg
    from clipgit.core.engine import Engine
    from clipgit.tui.app import ClipGitApp

# the app, driven with Pilot ---------------------------------------------------------------------------


async def wait_for(pilot: Pilot[Any], condition: Callable[[], object], timeout: float = 30.0) -> None:
    """Let the app run until CONDITION holds (any truthy value), or fail after TIMEOUT seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def plain(widget: Static) -> str:
    """What a Static shows, as plain text (tables included)."""
    return plain_prompt(widget.content)


def plain_prompt(renderable: object) -> str:
    """A Rich renderable as the plain text it prints."""
    from rich.console import Console

    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def results(app: ClipGitApp) -> list[str]:
    """The paths the results pane shows, in order."""
    from clipgit.tui.panes.search import SearchPane

    return [r.path for r in app.query_one(SearchPane).results]


def app_on(engine: Engine, folder: Path, photos: int, **options: Any) -> ClipGitApp:
    """The app (no pictures drawn, OPTIONS as ClipGitApp takes them) on a library of PHOTOS indexed in FOLDER."""
    from clipgit.tui.app import ClipGitApp

    make_photos(folder, photos)
    engine.index([str(folder)])
    return ClipGitApp(engine, show_images=False, **options)


async def open_duplicates(pilot: Pilot[Any], app: ClipGitApp, pictures: str = "") -> None:
    """From the main screen, once the model is ready, `D`: the duplicates screen with its tiles (and as
    many drawn PICTURES, a selector, as tiles where one is given)."""
    from clipgit.tui.screens.dupes import DupesScreen, DupeTile

    await wait_for(pilot, lambda: app.model_state == "ready")
    await pilot.press("tab", "D")
    await wait_for(pilot, lambda: isinstance(app.screen, DupesScreen) and bool(app.screen.query(DupeTile)) and (
        not pictures or len(app.screen.query(pictures)) == len(app.screen.query(DupeTile))))


def three_photos(engine: Engine, tmp_path: Path) -> ClipGitApp:
    """The app on a library of three indexed photos."""
    from clipgit.tui.app import ClipGitApp

    make_photos(tmp_path / "pics", 3)
    engine.index([str(tmp_path / "pics")])
    return ClipGitApp(engine)


# photos with EXIF -------------------------------------------------------------------------------------


def exif_bytes(when: str | None = None, offset: str | None = None, make: str | None = None,
               model: str | None = None, gps: bool = False) -> bytes:
    """An EXIF block: capture time (and its UTC offset), camera make and model, a GPS position (Lisbon's)."""
    exif = Image.Exif()
    if make:
        exif[0x10F] = make
    if model:
        exif[0x110] = model
    sub = exif.get_ifd(0x8769)
    if when:
        sub[0x9003] = when
    if offset:
        sub[0x9011] = offset
    if gps:
        exif.get_ifd(0x8825).update({1: "N", 2: dms(LISBON[0]), 3: "W", 4: dms(LISBON[1])})
    return exif.tobytes()


def save(path: Path, seed: int, fmt: str = "JPEG", mtime: float | None = None, **exif: Any) -> Path:
    """A small photo at PATH, with the EXIF that exif_bytes() makes of EXIF, and the file's date MTIME."""
    buf = io.BytesIO()
    photo(seed, (96, 72)).save(buf, format=fmt, **({"exif": exif_bytes(**exif)} if exif else {}))
    path.write_bytes(buf.getvalue())
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


# the GPU decoder, stood in for on CPU -----------------------------------------------------------------


def as_nvjpeg(raws: list[RawJpeg], device: str) -> list[Any]:
    """What nvJPEG hands back: full-size RGB uint8 (3, H, W), EXIF not applied; a CMYK or broken file refused."""
    import torch

    out: list[Any] = []
    for raw in raws:
        try:
            img = Image.open(io.BytesIO(raw.data))
            img.load()
        except OSError:
            out.append(None)
            continue
        out.append(torch.from_numpy(np.array(img.convert("RGB"))).permute(2, 0, 1).contiguous())
    return out


# the reference model -----------------------------------------------------------------------------------


def reference(model_dir: str, paths: list[Path], texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Unit image and text vectors computed independently: the reference CLIPProcessor and model."""
    import torch
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(model_dir).eval()
    proc = CLIPProcessor.from_pretrained(model_dir)
    with torch.no_grad():
        img = model.get_image_features(**proc(images=[Image.open(p).convert("RGB") for p in paths],
                                              return_tensors="pt")).pooler_output.numpy()
        txt = model.get_text_features(**proc.tokenizer(texts, padding=True, return_tensors="pt")).pooler_output.numpy()
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    txt /= np.linalg.norm(txt, axis=1, keepdims=True)
    return img, txt


# a real terminal (tmux) --------------------------------------------------------------------------------


def capture(session: str) -> str:
    """What the tmux SESSION's pane shows now."""
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def wait_screen(session: str, predicate: Callable[[str], bool], timeout: float = 40.0) -> str:
    """The tmux SESSION's screen once PREDICATE holds for it; fails with the last screen after TIMEOUT."""
    end = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < end:
        screen = capture(session)
        if predicate(screen):
            return screen
        time.sleep(0.2)
    raise AssertionError("screen never showed what was expected:\n" + screen)


def wait_exit(session: str, marker: Path, timeout: float = 20.0) -> None:
    """Wait until the command in SESSION has written its exit code to MARKER; it must be 0."""
    end = time.monotonic() + timeout
    while not marker.exists() and time.monotonic() < end:
        time.sleep(0.2)
    assert marker.exists(), "the app did not quit:\n" + capture(session)
    assert marker.read_text().strip() == "0"


LISBON = (38.7108, -9.1366)  # Baixa: the nearest place in the data is the district


def dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = Fraction((value - degrees - minutes / 60) * 3600).limit_denominator(10_000)
    return IFDRational(degrees), IFDRational(minutes), IFDRational(seconds.numerator, seconds.denominator)


def gps_photo(path: Path, seed: int, where: tuple[float, float] | None, fmt: str = "JPEG",
              raw: dict[int, Any] | None = None) -> Path:
    exif = Image.Exif()
    if where is not None:
        lat, lon = where
        exif.get_ifd(0x8825).update({1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lon >= 0 else "W",
                                     4: dms(lon)})
    if raw is not None:
        exif.get_ifd(0x8825).update(raw)
    buf = io.BytesIO()
    photo(seed, (64, 48)).save(buf, format=fmt, exif=exif.tobytes())
    path.write_bytes(buf.getvalue())
    return path


def burst(app: ClipGitApp | Any, *keys: str) -> None:
    """Post KEYS to the app all at once, as a paste or a fast typist sends them (gaps under 50 ms): Pilot's
    `press` lets the app go idle after every key, which hides the races a burst meets. Keys as Pilot names
    them ("enter", "tab", "slash", or one character)."""
    from textual import events

    named = {"enter": "\r", "tab": "\t", "slash": "/", "space": " "}
    for key in keys:
        char = named.get(key, key if len(key) == 1 else None)
        name = {"/": "slash", " ": "space"}.get(key, key)
        event = events.Key(name, char)
        event.set_sender(app)
        app.post_message(event)


# synthetic CLIP-like vectors, for the approximate index's tests -------------------------------------------

DIM = 64


def unit(x: np.ndarray) -> np.ndarray:
    return np.asarray(x / np.linalg.norm(x, axis=-1, keepdims=True), dtype=np.float32)


def world(n: int = 4_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fp16 vectors, image-like queries, text-like queries)."""
    rng = np.random.default_rng(seed)
    cone, text_cone = unit(rng.standard_normal(DIM)), unit(rng.standard_normal(DIM))
    centres = unit(0.75 * cone + 0.66 * unit(rng.standard_normal((60, DIM))))
    sizes = rng.lognormal(0, 1, 60)
    lab = rng.choice(60, size=n + 40, p=sizes / sizes.sum())
    x = unit(centres[lab] + 0.8 * rng.standard_normal((n + 40, DIM)) / np.sqrt(DIM))
    sem = unit(centres[lab[n:]] - 0.75 * cone)
    texts = unit(0.8 * text_cone + 0.3 * sem + 0.3 * rng.standard_normal((40, DIM)) / np.sqrt(DIM))
    return x[:n].astype(np.float16), x[n:], texts
