"""A one-line progress bar on stderr for the command line (no Rich: `--help` stays instant)."""

from __future__ import annotations

import sys
import time
from typing import Any


class ProgressBar:
    """A one-line bar on stderr, redrawn at most 10 times a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = 0.0
        self._shown = False

    def update(self, event: Any) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if event.phase == "embedding" and (now - self._last > 0.1 or event.done == event.total):
            self._last = now
            width = 30
            frac = event.done / event.total if event.total else 1.0
            eta = "" if event.eta is None else f" ETA {int(event.eta) // 60}:{int(event.eta) % 60:02d}"
            line = (f"\r[{'#' * int(frac * width):<{width}}] {event.done}/{event.total} "
                    f"{event.rate:.1f} img/s{eta}")
            sys.stderr.write(line + "\x1b[K")
            sys.stderr.flush()
            self._shown = True
        elif event.phase == "scanning":
            sys.stderr.write("\rscanning…\x1b[K")
            sys.stderr.flush()
            self._shown = True

    def update_captions(self, event: Any) -> None:
        if not self.enabled or not event.total:
            return
        now = time.monotonic()
        if now - self._last > 0.1 or event.done == event.total:
            self._last = now
            frac = event.done / event.total
            eta = "" if event.eta is None else f" ETA {int(event.eta) // 60}:{int(event.eta) % 60:02d}"
            sys.stderr.write(f"\rcaptions [{'#' * int(frac * 30):<30}] {event.done}/{event.total} "
                             f"{event.rate:.2f}/s{eta}\x1b[K")
            sys.stderr.flush()
            self._shown = True

    def close(self) -> None:
        if self.enabled and self._shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
