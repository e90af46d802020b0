"""Start the Textual app (kept apart so `clipgit-tui --help` never imports Textual)."""

from __future__ import annotations

from typing import Any


def run_app(settings: Any, paths: list[str]) -> int:
    raise SystemExit("the terminal app is not built yet")
