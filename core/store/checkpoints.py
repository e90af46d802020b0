"""WAL checkpoints on a thread of their own while an index run writes batches.

Why: SQLite copies its write-ahead log into the database file every 1,000 pages (4 MB, about two
batches of 512 vectors), inside the commit of whichever batch crossed the line, so the run's thread
paid for it: on this machine it was nearly half of what writing a batch cost (24 us a row against
14 without). WAL lets a second connection checkpoint beside the writer, in PASSIVE mode (it never
waits for a lock and never stops the writer), and SQLite's C code runs without the GIL, so here the
copy runs on another core while the run's thread goes on sorting files. The run's own connection
still checkpoints past a cap, should this thread fall behind, so the log stays bounded.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from types import TracebackType

from clipgit.core.inference import lower_thread_priority

DEFAULT_AUTOCHECKPOINT = 1000  # SQLite's own, restored when the run ends
CAP_BYTES = 64 << 20  # of log: past this the writer checkpoints itself


class Checkpointer:
    """While open, `nudge` after each commit: the thread copies what was committed.

    Failures here lose nothing (the log is the data until copied, and the writer checkpoints past the
    cap): a checkpoint that cannot run now is tried at the next nudge."""

    def __init__(self, writer: sqlite3.Connection, db_path: Path) -> None:
        self._writer = writer
        self._db_path = db_path
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.checkpoints = 0  # how many this thread ran (tests look)

    def __enter__(self) -> Checkpointer:
        page = self._writer.execute("PRAGMA page_size").fetchone()[0]
        self._writer.execute(f"PRAGMA wal_autocheckpoint={max(DEFAULT_AUTOCHECKPOINT, CAP_BYTES // page)}")
        self._thread = threading.Thread(target=self._loop, name="clipgit-checkpoint", daemon=True)
        self._thread.start()
        return self

    def nudge(self) -> None:
        self._wake.set()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Stops the thread after a last checkpoint of what the run wrote, and gives the writer back its
        own checkpoints."""
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self._writer.execute(f"PRAGMA wal_autocheckpoint={DEFAULT_AUTOCHECKPOINT}")

    def _loop(self) -> None:
        lower_thread_priority()
        try:
            conn = sqlite3.connect(self._db_path, timeout=0, isolation_level=None)
        except sqlite3.Error:
            return  # the writer's own checkpoints (past the cap) keep the log bounded
        try:
            while True:
                self._wake.wait()  # nudges that come while a checkpoint runs make one more, not one each
                self._wake.clear()
                stop = self._stop
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                except sqlite3.Error:
                    pass
                if stop:
                    return
        finally:
            conn.close()
