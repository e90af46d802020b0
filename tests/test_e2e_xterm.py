"""The installed `clipgit-tui` in xterm (-ti vt340, sixel) under Xvfb: the pictures it draws are the pictures.

Screenshots of the X screen (ImageMagick's `import`) are read pixel by pixel:
each stripe of a red/blue/red image has its true colour, and the drawn picture
keeps the image's 2:1 aspect ratio, in the detail pane and in a grid tile.
Set CLIPGIT_SCREENSHOTS=DIR to keep the screenshots.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import cli_path

TOOLS = ("Xvfb", "xterm", "import", "xdotool")
MISSING = [tool for tool in TOOLS if shutil.which(tool) is None]
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    bool(MISSING), reason=f"needs {', '.join(MISSING)} (Debian: apt-get install xvfb xterm imagemagick xdotool; "
                          ".ci/run installs them)")]

RED, BLUE = (255, 0, 0), (0, 0, 255)


@pytest.fixture
def xterm(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A library of one striped picture (demo model: no download), and an X display with nothing on it yet."""
    pics = tmp_path / "pics"
    pics.mkdir()
    stripes = Image.new("RGB", (600, 300), RED)
    stripes.paste(BLUE, (0, 100, 600, 200))
    stripes.save(pics / "stripes.png")
    env = dict(os.environ, CLIPGIT_DATA_DIR=str(tmp_path / "data"), CLIPGIT_CONFIG=os.devnull,
               CLIPGIT_CLIP_MODEL="demo", CLIPGIT_CAPTION_MODEL="demo", CLIPGIT_SERVICE="0", HF_HUB_OFFLINE="1")
    subprocess.run([cli_path(), "index", str(pics), "-q"], env=env, check=True, capture_output=True)
    display = f":{90 + os.getpid() % 100}"
    server = subprocess.Popen(["Xvfb", display, "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env["DISPLAY"] = display
    time.sleep(1.0)
    try:
        yield env
    finally:
        server.terminate()
        server.wait(10)


def _shot(env: dict[str, str], path: Path) -> np.ndarray:
    subprocess.run(["import", "-window", "root", str(path)], env=env, check=True, capture_output=True)
    return np.asarray(Image.open(path).convert("RGB")).astype(np.int16)


def _mask(shot: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    mask: np.ndarray = (np.abs(shot - np.array(colour)).sum(axis=2) < 60)
    return mask


def _picture(shot: np.ndarray, x_from: int, x_to: int) -> tuple[int, int, int, int] | None:
    """The drawn stripes between two x positions: (left, top, width, height), from the blue stripe."""
    blue = _mask(shot, BLUE)
    blue[:, :x_from] = False
    blue[:, x_to:] = False
    if blue.sum() < 200:
        return None
    ys, xs = np.nonzero(blue)
    left, right, top, bottom = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    stripe = bottom - top
    return int(left), int(top - stripe), int(right - left), int(3 * stripe)


def _wait(env: dict[str, str], path: Path, x_from: int, x_to: int, timeout: float = 40.0,
          ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        shot = _shot(env, path)
        found = _picture(shot, x_from, x_to)
        if found is not None:
            time.sleep(0.5)  # let the drawing finish, then judge the final picture
            shot = _shot(env, path)
            found = _picture(shot, x_from, x_to)
            if found is not None:
                return shot, found
            # drawn, then gone: a refresh (the caption arriving) rebuilt the tiles; the new one draws its own
        time.sleep(0.3)
    raise AssertionError(f"no striped picture was drawn between x={x_from} and x={x_to} (see {path})")


def _check_stripes(shot: np.ndarray, box: tuple[int, int, int, int], where: str) -> None:
    left, top, width, height = box
    third = height // 3
    assert abs(width / height - 2.0) < 0.1, f"{where}: drawn {width}x{height}, not 2:1"
    for name, colour, y0 in (("top", RED, top), ("middle", BLUE, top + third), ("bottom", RED, top + 2 * third)):
        band = shot[y0 + 2:y0 + third - 2, left + 2:left + width - 2]
        share = float(_mask(band, colour).mean())
        assert share > 0.95, f"{where}: the {name} stripe is {share:.0%} {colour} (wrong-coloured band?)"
    below = shot[top + height + 1:top + height + 7, left + 2:left + width - 2]  # xterm blanks whole cells
    black = float((below.sum(axis=2) == 0).mean())
    assert black < 0.05, f"{where}: {black:.0%} of the strip under the picture is black, not the pane's background"


def test_detail_and_grid_pictures_have_true_colours_and_shape(xterm: dict[str, str], tmp_path: Path) -> None:
    env = xterm
    term = subprocess.Popen(["xterm", "-ti", "vt340", "-geometry", "150x45+0+0", "-xrm",
                             "XTerm*numColorRegisters: 256", "-e", cli_path()], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(4.0)
        subprocess.run(["xdotool", "type", "--delay", "60", "red"], env=env, check=True)
        subprocess.run(["xdotool", "key", "Return"], env=env, check=True)
        detail_shot, detail = _wait(env, tmp_path / "detail.png", 540, 1400)
        _check_stripes(detail_shot, detail, "detail pane")
        subprocess.run(["xdotool", "key", "g"], env=env, check=True)
        grid_shot, tile = _wait(env, tmp_path / "grid.png", 190, 530)
        _check_stripes(grid_shot, tile, "grid tile")
        keep = os.environ.get("CLIPGIT_SCREENSHOTS")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            for name in ("detail.png", "grid.png"):
                shutil.copy(tmp_path / name, Path(keep) / f"xterm-{name}")
    finally:
        term.terminate()
        term.wait(10)
