"""clipgit installs as one package, `clipgit`: the repo's core/ and tui/ never land in site-packages as `core`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_wheel_has_exactly_one_top_level_name(tmp_path: Path) -> None:
    src = tmp_path / "src"  # a copy, so no build/ folder is left in the repo (nor a stale one read from it)
    for name in ("core", "tui"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(src)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("clipgit-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"clipgit"}
    assert "clipgit/core/engine.py" in names and "clipgit/core/lab/train.py" in names  # found, not listed
    assert "clipgit/tui/app.tcss" in names and "clipgit/core/demo_models/clip/model.safetensors" in names
    top_level = [n for n in names if n.endswith(".dist-info/top_level.txt")]
    assert [zipfile.ZipFile(wheel).read(n).decode().split() for n in top_level] in ([["clipgit"]], [])


def test_outside_the_repo_only_clipgit_imports(tmp_path: Path) -> None:
    def run(code: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)

    assert run("import core").returncode != 0
    assert run("import tui").returncode != 0
    done = run("from clipgit.core import Engine; from clipgit.tui.cli import main; print('ok')")
    assert done.stdout.strip() == "ok", done.stderr


def test_a_decode_worker_imports_only_what_it_uses() -> None:
    """Each worker process imports clipgit.core.decode.pool: the engine, the catalog and torch stay out (the
    whole engine cost each worker 130 ms before its first file), and every name the package offers loads."""
    code = ("import sys, clipgit.core.decode.pool; "
            "print(sorted(m for m in ('clipgit.core.engine', 'clipgit.core.store.catalog', 'torch', 'transformers') "
            "if m in sys.modules)); import clipgit.core as c; print(all(getattr(c, n) for n in c.__all__))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "True"]
