"""Fixtures: tiny random CLIP built once per session, a fresh data dir per test, photo makers.

HF_HUB_OFFLINE is set before anything imports the hub library: no test may
touch the network (the hub would retry for ~24 s and then fail).
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clipgit.core.config import Settings
from clipgit.core.engine import Engine
from clipgit.core.lab.photos import make_photos as make_photos  # the tests import it from here
from clipgit.core.lab.photos import photo as photo  # likewise
from clipgit.core.lab.random_models import build_clip, build_git

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--torture-minutes", default="0", help="run the torture test this long (default: about a "
                     "minute, as CI runs it)")
    parser.addoption("--torture-seed", default="20261203", help="the torture test's random seed")


def pytest_configure(config: pytest.Config) -> None:
    """pytest-xdist's workers set COLUMNS=80 and LINES=24; Textual takes them as the terminal's size, so the
    real app the end-to-end tests start in a 150x40 tmux or xterm window drew itself at 80x24 there."""
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A longer torture run gets the time it asks for (pytest-timeout's 300 s is for everything else)."""
    minutes = float(config.getoption("--torture-minutes"))
    for item in items:
        if item.name == "test_torture":
            item.add_marker(pytest.mark.timeout(int(max(1.0, minutes) * 60 + 400)))


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_clip(tmp_path_factory.mktemp("models") / "tiny-clip", tiny=True)


@pytest.fixture(scope="session")
def tiny_git(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_git(tmp_path_factory.mktemp("models") / "tiny-git", tiny=True)


@pytest.fixture(scope="session", autouse=True)
def _no_service_outlives_the_tests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests that run clipgit as a user does start its warm service, which then waits ten minutes for the
    next command: each one a test started is stopped when the session ends (left running, they cost the
    next benchmark on this machine a tenth of its speed)."""
    yield
    from clipgit.core.service.client import ServiceClient

    for sock in tmp_path_factory.getbasetemp().rglob("service*.sock"):
        client = ServiceClient(Settings(data_dir=sock.parent))
        client.path = sock
        try:
            client.call("POST", "/v1/stop", {}, timeout=5.0)
        except Exception:  # gone already, or busy past the timeout: nothing more to do here
            pass


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's own config file or env settings."""
    monkeypatch.setenv("CLIPGIT_CONFIG", os.devnull)  # no config file (a missing one is an error)
    monkeypatch.setenv("CLIPGIT_RUNTIME_DIR", str(tmp_path / "run"))  # services a test starts are listed there
    for var in ("CLIPGIT_DATA_DIR", "CLIPGIT_CLIP_MODEL", "CLIPGIT_DEVICE", "CLIPGIT_PRECISION",
                "CLIPGIT_BATCH_SIZE", "CLIPGIT_CAPTION_MODEL", "CLIPGIT_SERVICE", "CLIPGIT_SERVICE_IDLE",
                "CLIPGIT_SERVICE_SETTINGS"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def settings(tmp_path: Path, tiny_clip: Path, tiny_git: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", clip_model=str(tiny_clip), caption_model=str(tiny_git),
                    device="cpu", precision="fp32", batch_size=8, decode_workers=2)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    with Engine(settings) as eng:
        yield eng


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
               CLIPGIT_PRECISION="fp32", CLIPGIT_DEVICE="cpu", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1",
               CLIPGIT_SERVICE="0")  # in-process unless a test is about the service (tests/test_service.py)
    return env


@pytest.fixture(scope="module")
def full_model() -> Any:
    """The full-size ViT-B/32 with random weights: faithfulness is judged on what users run."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    return CLIPModel(CLIPConfig()).eval()


def unit_features(model: Any, pixels: Any) -> np.ndarray:
    import torch

    with torch.no_grad():
        out = model.get_image_features(pixel_values=pixels).pooler_output.numpy()
    unit: np.ndarray = out / np.linalg.norm(out, axis=1, keepdims=True)
    return unit


def library_problems(data_dir: Path, model: str) -> list[str]:
    """What is wrong with a library's state, checked against itself (empty when it all agrees): the catalog's
    integrity, each file once, the triggers' figures against the embeddings, and the vectors a new process
    would search (snapshot and replay) against the catalog, without needing a rebuild."""
    import sqlite3

    from clipgit.core.store.catalog import Catalog
    from clipgit.core.store.vectors import VectorIndex, id_hashes

    problems: list[str] = []
    db = data_dir / "library.db"
    if not db.exists():
        return problems
    conn = sqlite3.connect(db, timeout=30)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            problems.append(f"integrity_check: {check}")
        paths, distinct = conn.execute("SELECT count(*), count(DISTINCT path) FROM images").fetchone()
        if paths != distinct:
            problems.append(f"{paths - distinct} paths in the catalog twice")
        ids = np.array([r[0] for r in conn.execute("SELECT image_id FROM embeddings WHERE model = ?", (model,))],
                       dtype=np.int64)
        stats = conn.execute("SELECT count, idsum, idhash FROM vector_stats WHERE model = ?", (model,)).fetchone()
    finally:
        conn.close()
    if len(ids) != len(set(ids.tolist())):
        problems.append("an image has two embeddings of one model")
    actual = (len(ids), int(ids.sum()), int(id_hashes(ids).sum()))
    if (stats or (0, 0, 0)) != actual:
        problems.append(f"vector_stats {stats} but the embeddings give {actual}")
    cat = Catalog(db)
    try:
        vectors = VectorIndex(model, data_dir)
        vectors.refresh(cat)
        live, _ = vectors.live()
        if vectors.rebuilds:
            problems.append("the vector snapshot disagreed with the catalog (it had to be rebuilt)")
        if sorted(live.tolist()) != sorted(ids.tolist()):
            problems.append(f"vectors hold {len(live)} rows ({len(set(live.tolist()))} images), "
                            f"the catalog {len(ids)} embeddings")
    finally:
        cat.close()
    return problems


def listed_twice(paths: list[str]) -> list[str]:
    return sorted({p for p in paths if paths.count(p) > 1})
