"""Start the Textual app (kept apart so `clipgit-tui --help` never imports Textual).

textual-image probes the terminal when `textual_image.widget` is imported;
that must happen before App.run(), while we still own the terminal's input.
"""

from __future__ import annotations

from typing import Any


def run_app(settings: Any, paths: list[str]) -> int:
    from clipgit.core.engine import Engine
    from clipgit.core.service.client import ServiceClient
    from clipgit.core.service.served_engine import ServedEngine

    from . import preview  # noqa: F401  (imports textual_image.widget: terminal probe)
    from .app import ClipGitApp

    # the app uses the warm service (see core/service/served_engine.py for why), or runs in-process
    engine = ServedEngine(settings) if ServiceClient.usable(settings) else Engine(settings)
    try:
        ClipGitApp(engine, paths).run()
    finally:
        engine.close()
    return 0
