"""Fixtures: tiny random CLIP built once per session, a fresh data dir per test, photo makers.

HF_HUB_OFFLINE is set before anything imports the hub library: no test may
touch the network (the hub would retry for ~24 s and then fail).
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from PIL import Image

from core.config import Settings
from core.engine import Engine
from core.random_models import build_clip, build_git

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_clip(tmp_path_factory.mktemp("models") / "tiny-clip", tiny=True)


@pytest.fixture(scope="session")
def tiny_git(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_git(tmp_path_factory.mktemp("models") / "tiny-git", tiny=True)


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's own config file or env settings."""
    monkeypatch.setenv("CLIPGIT_CONFIG", str(tmp_path / "no-config.toml"))
    for var in ("CLIPGIT_DATA_DIR", "CLIPGIT_CLIP_MODEL", "CLIPGIT_DEVICE", "CLIPGIT_PRECISION",
                "CLIPGIT_BATCH_SIZE", "CLIPGIT_CAPTION_MODEL"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def settings(tmp_path: Path, tiny_clip: Path, tiny_git: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", clip_model=str(tiny_clip), caption_model=str(tiny_git),
                    device="cpu", precision="fp32", batch_size=8, decode_workers=2)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    with Engine(settings) as eng:
        yield eng


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


def cli_path() -> str:
    """The installed console script, as a user runs it."""
    candidate = Path(sys.executable).parent / "clipgit-tui"
    if candidate.exists():
        return str(candidate)
    import shutil

    found = shutil.which("clipgit-tui")
    if not found:
        pytest.fail("clipgit-tui is not installed: run pip install -e '.[dev]'")
    return found


def cli_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(CLIPGIT_DATA_DIR=str(settings.data_dir), CLIPGIT_CLIP_MODEL=settings.clip_model,
               CLIPGIT_CAPTION_MODEL=settings.caption_model,
               CLIPGIT_PRECISION="fp32", CLIPGIT_DEVICE="cpu", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    return env
