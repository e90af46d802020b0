"""One index run at a time per data dir, across processes and threads.

Why: two runs over the same files (the app's watcher and a command-line
`index`, or two commands at once) would both embed every new file, and each
write its vector. So a second run waits until the first has committed and
let go, then finds the first one's files unchanged and embeds only what is
left. The lock is `flock` on a file in the data dir: the kernel lets go of it
when its holder dies, even by `kill -9`, so a crashed run never blocks the
next. Each holder opens the file itself, so two threads of one process
(the service answering the app and a command) exclude each other too.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO


class IndexLock:
    def __init__(self, data_dir: Path, name: str = "index") -> None:
        """`name`: which job ("index"; "text" and "captions" for the library jobs, ingest/one_job.py)."""
        self.path = data_dir / f"{name}.lock"
        self._fh: IO[str] | None = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True when this holder has it."""
        if self._fh is not None:
            return True
        fh = open(self.path, "a+")  # noqa: SIM115  (held until release)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        except BaseException:
            fh.close()
            raise
        fh.truncate(0)
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return True

    def holder(self) -> str:
        """Who holds it, for a waiting message: "pid N" (or "another run" when the file says nothing)."""
        try:
            pid = self.path.read_text().strip()
        except OSError:
            pid = ""
        return f"pid {pid}" if pid.isdigit() else "another run"

    def release(self) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            fh.close()  # closing lets go of the flock
