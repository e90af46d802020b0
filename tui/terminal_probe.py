"""What this terminal can draw, asked once before the app starts, and told again to textual-image later.

Why: textual-image asks the terminal (sixel in the device attributes, the kitty graphics protocol, the
cell size in pixels) when its renderable package is imported, and that import brings Pillow and numpy:
about a quarter of a second before the app's first frame, for pictures that come later. It must ask
before Textual starts, since Textual reads the terminal's input from then on. So we ask the same
questions here with textual-image's own light terminal helpers and keep the replies; when the picture
modules are imported after the first paint (`tui/preview.py`), textual-image's questions are answered
from what was kept, and nothing is written to the terminal while Textual owns it.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from random import randint
from types import SimpleNamespace

DA1 = ("\x1b[?", "c", "\x1b[c")  # start, end of the reply; the question. A "4" among the attributes: sixel
KITTY = ("\x1b_G", "\x1b\\", "\x1b_Gi={id},s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\")  # kitty graphics: a query

_replies: dict[str, str] = {}  # start marker -> the whole reply, for the questions the terminal answered
_probed = False


def probe() -> None:
    """Ask once, before Textual starts; then have textual-image's later questions answered from the replies.

    The kitty-graphics question goes first and the device attributes right behind it: every terminal answers
    the latter, and in order, so a terminal that ignores the former costs no wait (textual-image asked them
    one at a time, and waited 0.1 s in tmux and every other terminal without kitty graphics). Without a
    terminal (tests, pipes) nothing is asked, and textual-image asks nothing either."""
    global _probed
    out = sys.__stdout__
    if _probed or out is None or not out.isatty() or sys.__stdin__ is None:
        return
    _probed = True
    from textual_image import _terminal

    try:
        from textual_image._posix import capture_mode, read
    except ImportError:  # no termios (Windows): textual-image asks itself, before Textual starts, as it did
        from clipgit.tui import preview  # noqa: F401
        return

    _terminal.get_cell_size()  # kept by textual-image itself
    heard = ""
    try:
        with capture_mode():
            out.write(KITTY[2].replace("{id}", str(randint(1, 2**32))) + DA1[2])
            out.flush()
            fd = sys.__stdin__.fileno()
            while not re.search(r"\x1b\[\?[0-9;]*c", heard):
                heard += read(fd, 1, 0.2)
    except (_terminal.TerminalError, TimeoutError, OSError, UnicodeDecodeError):
        pass  # no answer is an answer: textual-image treats it so
    for start, end in (DA1[:2], KITTY[:2]):
        found = re.search(re.escape(start) + r".*?" + re.escape(end), heard, re.S)
        if found:
            _replies[start] = found.group(0)
    _terminal.capture_terminal_response = _replayed


@contextmanager
def _replayed(start_marker: str, end_marker: str, timeout: float | None = None) -> Iterator[SimpleNamespace]:
    """textual-image's `capture_terminal_response`, answered from the kept replies: its question is written
    to a sink, not to the terminal Textual is drawing on (Textual writes to stderr; nothing else here
    writes to the real stdout)."""
    from textual_image._terminal import TerminalError

    response = SimpleNamespace(sequence=_replies.get(start_marker, ""))
    real = sys.__stdout__
    setattr(sys, "__stdout__", io.StringIO())  # noqa: B010  (typeshed declares it final; it is, but for this)
    try:
        yield response
    finally:
        setattr(sys, "__stdout__", real)  # noqa: B010
    if not response.sequence:
        raise TerminalError("the terminal did not answer before the app started")
