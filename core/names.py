"""File names as bytes in the catalog and as safe text on screens.

Why: POSIX names are bytes and need not be UTF-8; Python hands them to us as
str with surrogate escapes, which SQLite TEXT cannot hold. The catalog keeps
the exact bytes, and every face shows names through `display_name`, so a name
holding terminal escape codes can never control the terminal.
"""

from __future__ import annotations

import os

_CONTROL = {i for i in range(0x20)} | {0x7F} | set(range(0x80, 0xA0))


def within(path: str, root: str) -> bool:
    """`path` is `root` or lies inside it (as strings: the catalog's paths are absolute and normalised)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def to_db(path: str) -> bytes:
    return os.fsencode(path)


def from_db(raw: bytes) -> str:
    return os.fsdecode(raw)


def display_name(path: str) -> str:
    """Printable text for a path: control characters and undecodable bytes escaped."""
    out: list[str] = []
    for ch in path:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # surrogate-escaped raw byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code in _CONTROL or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        elif ch == "\\":
            out.append("\\\\")
        else:
            out.append(ch)
    return "".join(out)


def absolute(path: str) -> str:
    """A path as the catalog stores it: absolute, `~` expanded, and with one leading slash (POSIX keeps `//x`
    apart from `/x`, but a user who types `//tmp/x.png` means the library's `/tmp/x.png`)."""
    full = os.path.abspath(os.path.expanduser(path))
    return "/" + full.lstrip("/") if full.startswith("//") else full
