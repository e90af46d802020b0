"""Import rules: core/ never imports the UI libraries; the app imports nothing heavy before its first frame."""

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "core"


def test_core_sources_do_not_import_ui_libraries() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("textual", "rich")]
    assert offenders == []


def test_importing_the_engine_loads_no_ui_library_and_no_torch() -> None:
    code = (
        "import sys, clipgit.core, clipgit.core.engine, clipgit.core.store.catalog, clipgit.core.scan, "
        "clipgit.core.decode.image, clipgit.core.models.clip, clipgit.core.search.query, "
        "clipgit.core.store.vectors, clipgit.core.ingest.indexer, clipgit.core.models.hub, clipgit.core.config, "
        "clipgit.core.ingest.pipeline\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'torch', 'transformers'))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=CORE.parent)
    assert out.stdout.strip() == ""


TESTS = Path(__file__).resolve().parent


def test_no_test_module_imports_another() -> None:
    """What several tests share lives in tests/helpers.py or tests/conftest.py: importing a test module
    from another runs (and collects) it twice and ties the two together."""
    test_modules = {p.stem for p in TESTS.glob("test_*.py")}
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = "." * node.level + (node.module or "")
                names = [base] + [f"{base}.{a.name}" for a in node.names]  # from tests import test_x
            else:
                continue
            for name in names:
                parts = name.lstrip(".").split(".")
                if parts[-1] in test_modules and (parts[0] == "tests" or name.startswith(".") or len(parts) == 1):
                    offenders.append(f"{path.relative_to(TESTS)}:{node.lineno}: {name}")
    assert offenders == []


def test_the_app_draws_its_first_frame_before_the_engine_numpy_or_pillow_load() -> None:
    """Issue 26: the app's first paint waits for nothing it does not draw. Importing the app and its launcher
    (as `clipgit-tui` does before App.run) loads no engine, catalog, numpy, Pillow, textual-image or torch;
    they come with the first worker (tui/lazy_engine.py) and the picture warm-up. Nor what only a later step
    uses (a few ms each): the grid and the other screens, the query filters, sqlite3, the thread pool, the
    config file's TOML reader, the command line's JSON."""
    code = (
        "import sys, clipgit.tui.cli, clipgit.tui.run_app, clipgit.tui.app, clipgit.tui.lazy_engine\n"
        "heavy = ('numpy', 'PIL', 'torch', 'transformers', 'textual_image', 'clipgit.core.engine', "
        "'clipgit.core.store', 'clipgit.core.ingest', 'clipgit.core.decode.image', 'clipgit.core.service', "
        "'clipgit.tui.panes.grid', 'clipgit.tui.screens', 'clipgit.core.search.filters', 'sqlite3', "
        "'concurrent.futures.thread', 'tomllib', 'json')\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith(heavy))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
