"""The README stays true: every key of the app is listed, and the set-up it gives is what CI runs."""

from pathlib import Path

from clipgit.tui.keys import KEYS

ROOT = Path(__file__).resolve().parent.parent


def test_readme_lists_every_key() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8").replace("`", "")
    for where, key, what in KEYS:
        assert f"| {where} | {key} | {what} |" in readme, f"README's key table misses: {where} {key}"


def test_ci_installs_the_way_the_readme_says() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme and "\nmake test\n" in ci and "rm -rf .venv" in ci
    for step in ("pip install torch==2.13.0", 'pip install -e ".[dev]"'):  # the README's manual set-up
        assert step in readme
    assert "TORCH ?= torch==2.13.0" in make and '-m pip install -q -e ".[$(EXTRAS)]"' in make
    assert "scripts/check.sh" in make and "-m pytest" in make
