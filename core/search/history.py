"""The searches a person settled on, newest last, kept in the data dir (`history.txt`) across sessions.

Why: a daily user runs the same few searches again ("kids beach", "receipts"); the app's search box steps
through them with Up and Down, as a shell does. A search counts once the person moves on to its results
(Enter, or Down into the list), not at every keystroke of live search. History is a convenience: a data
dir that cannot be read or written leaves it empty and loses nothing else. `history = false` (or
CLIPGIT_HISTORY=0) keeps none; deleting the file forgets what was kept.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

HISTORY_FILE = "history.txt"
KEEP = 500  # searches kept; older ones fall off


class QueryHistory:
    def __init__(self, data_dir: Path | None) -> None:
        """`data_dir` None: nothing is read or kept (history turned off)."""
        self.path = data_dir / HISTORY_FILE if data_dir is not None else None
        self._lock = threading.Lock()
        self._entries: list[str] = self._read()

    def entries(self) -> list[str]:
        with self._lock:
            return list(self._entries)

    def add(self, query: str) -> None:
        """Remember `query` as the newest (an earlier copy moves up); written at once, off the caller's
        thread where that matters (the app calls it from a worker)."""
        query = " ".join(query.split())
        if not query or self.path is None:
            return
        with self._lock:
            if self._entries and self._entries[-1] == query:
                return
            # read again first: another window's app may have added its searches since this one started
            kept = self._read() if self.path.exists() else self._entries
            self._entries = [*[q for q in kept if q != query][-(KEEP - 1):], query]
            self._write(self._entries)

    def _read(self) -> list[str]:
        if self.path is None:
            return []
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []
        return [line for line in lines if line.strip()][-KEEP:]

    def _write(self, entries: list[str]) -> None:
        assert self.path is not None
        temp = self.path.with_name(f".{HISTORY_FILE}.{os.getpid()}.{threading.get_ident()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # private, like a shell's history
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write("".join(q + "\n" for q in entries))
            os.replace(temp, self.path)
        except OSError:
            try:
                temp.unlink(missing_ok=True)
            except OSError:
                pass
