"""Start the Textual app (kept apart so `clipgit-tui --help` never imports Textual).

The terminal is asked what it can draw before App.run(), while we still own its input
(tui/terminal_probe.py); the engine and the picture modules load after the first paint.
"""

from __future__ import annotations

import gc
import os
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, cast

from clipgit.tui.terminal_probe import probe

if TYPE_CHECKING:
    from clipgit.core.config import Settings
    from clipgit.core.engine import Engine


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


def run_app(settings: Settings, paths: list[str]) -> int:
    xterm_colours(os.environ)  # before Textual reads it, on import
    # No automatic garbage collection until the app has drawn its first frame (it turns it back on then): what
    # is made until then (Textual's modules, the app's widgets) lives as long as the app, and the collector
    # walking it again and again, to free next to nothing, was ~40 ms of the first paint
    gc.disable()
    probe()  # what the terminal draws, asked while we still own its input (tui/terminal_probe.py)
    from clipgit.tui.app import ClipGitApp
    from clipgit.tui.lazy_engine import LazyEngine

    # the engine (numpy, Pillow, the catalog) is built by the app's first worker, after the first paint
    lazy = LazyEngine(settings)
    try:
        ClipGitApp(cast("Engine", lazy), paths, owns_engine=True).run()
    finally:
        lazy.close()
    return 0
