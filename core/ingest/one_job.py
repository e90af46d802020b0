"""One index run, and one text-reading (or captioning) job, per library at a time, across processes and threads.

Why: two at once (the app reading text in the background and `index --ocr` in a shell, or two commands)
each read every picture: twice the work on the same cores, each at half speed, for the same rows. So a
second job waits for the first (its holder is named in a "waiting" event), then finds done what the first
did. A paused job lets go of the lock while it waits, so a command that wants the text now is not held up
by a job the user paused; when it resumes it skips what another job read meanwhile. The lock is
store/index_lock.py's `flock`: a killed holder never blocks the next.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from clipgit.core.progress import Progress
from clipgit.core.store.index_lock import IndexLock

P = TypeVar("P", bound="Progress[Any]")  # a library job's, or an index run's (Progress[IndexReport])


def one_at_a_time(data_dir: Path, name: str, cancel: threading.Event, waiting: Callable[[str], P],
                  job: Callable[[IndexLock], Iterator[P]]) -> Iterator[P]:
    """`job(lock)`'s events once this library's `name` lock is held; until then `waiting(holder)` every quarter
    of a second (`holder`: "pid N"). The one waiting loop of index runs and library jobs."""
    lock = IndexLock(data_dir, name)
    try:
        while not lock.try_acquire():
            if cancel.is_set():
                return
            yield waiting(lock.holder())
            cancel.wait(0.25)
        yield from job(lock)
    finally:
        lock.release()


def waiting_for(doing: str) -> Callable[[str], Progress[None]]:
    """A library job's "waiting" event: who holds the library and what it does."""
    return lambda holder: Progress("waiting", 0, 0, note=f"waiting for {holder} to finish {doing} (what it does "
                                   "is not done again)")


def wait_out_pause(pause: threading.Event, cancel: threading.Event, lock: IndexLock | None) -> bool:
    """Wait while `pause` is set, the lock let go meanwhile and taken back after; True when it was let go (the
    caller then skips what another job did in between)."""
    if lock is not None:
        lock.release()
    while pause.is_set() and not cancel.is_set():
        time.sleep(0.1)
    while lock is not None and not cancel.is_set() and not lock.try_acquire():
        time.sleep(0.25)
    return lock is not None
