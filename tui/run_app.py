"""Start the Textual app (kept apart so `clipgit-tui --help` never imports Textual).

textual-image probes the terminal when `textual_image.widget` is imported;
that must happen before App.run(), while we still own the terminal's input.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import Any


def xterm_colours(environ: MutableMapping[str, str]) -> None:
    """256 colours in xterm and mlterm, which set TERM=xterm / TERM=mlterm and no COLORTERM: Rich reads that as
    16 colours, and the thumbnails of
    the result list's rows become a few grey and yellow blocks. xterm has had 256 colours for decades and
    names itself in XTERM_VERSION (inherited by tmux and screen inside it, which set TERM themselves).
    A choice of the user's (TEXTUAL_COLOR_SYSTEM, COLORTERM) stands."""
    xterm = environ.get("TERM") == "xterm" and environ.get("XTERM_VERSION")
    if (xterm or environ.get("TERM", "").startswith("mlterm")) and not environ.get("COLORTERM") \
            and "TEXTUAL_COLOR_SYSTEM" not in environ:
        environ["TEXTUAL_COLOR_SYSTEM"] = "256"  # not truecolor: mlterm 3.9 draws bold 24-bit text on white


def run_app(settings: Any, paths: list[str]) -> int:
    from clipgit.core.engine import Engine
    from clipgit.core.service.client import ServiceClient
    from clipgit.core.service.served_engine import ServedEngine

    xterm_colours(os.environ)  # before Textual reads it, on import
    from clipgit.tui import preview  # noqa: F401  (imports textual_image.widget: terminal probe)
    from clipgit.tui.app import ClipGitApp

    # the app uses the warm service (see core/service/served_engine.py for why), or runs in-process
    engine = ServedEngine(settings) if ServiceClient.usable(settings) else Engine(settings)
    try:
        ClipGitApp(engine, paths).run()
    finally:
        engine.close()
    return 0
