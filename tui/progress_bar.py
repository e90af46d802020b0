"""The command line's one progress bar, for every job's `Progress` (no Rich: `--help` stays instant)."""

from __future__ import annotations

import sys
import time
from typing import Any

from clipgit.core.progress import Progress, duration


class ProgressBar:
    """A one-line bar on stderr, redrawn at most 10 times a second; silent when disabled."""

    WIDTH = 30

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = 0.0
        self._shown = False

    def update(self, event: Progress[Any]) -> None:
        if not self.enabled or event.finished:
            return
        now = time.monotonic()
        if event.total and now - self._last < 0.1 and event.done < event.total:
            return
        self._last = now
        if not event.total:
            line = (event.note if event.note.startswith(event.phase) else f"{event.phase}: {event.note}") if (
                event.note) else f"{event.phase}…"
        else:
            frac = min(1.0, event.done / event.total)
            rate = f"{event.rate:.2f}" if event.rate < 10 else f"{event.rate:.1f}"
            eta = "" if event.eta is None else f" ETA {duration(event.eta)}"
            paused = " (paused)" if event.paused else ""
            note = f" {event.note}" if event.note else ""
            line = (f"{event.phase} [{'#' * int(frac * self.WIDTH):<{self.WIDTH}}] {event.done}/{event.total} "
                    f"{rate} {event.unit}/s{eta}{note}{paused}")
        sys.stderr.write(f"\r{line}\x1b[K")
        sys.stderr.flush()
        self._shown = True

    def close(self) -> None:
        if self.enabled and self._shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._shown = False
