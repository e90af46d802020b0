"""One progress model for every long job: index, caption, eval and train.

Why one: each job used to compute rate and ETA its own way and each face
drew each job its own way. A job now yields `Progress` events made by a
`Meter`, and a face has one renderer for all of them. Events are snapshots:
a face may drop all but the newest (the app's progress messages replace
each other in the queue).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Generic, TypeVar

R = TypeVar("R")


@dataclass(frozen=True)
class Progress(Generic[R]):
    """Where a job stands. `report` is the job's result so far (index) or at the end (eval, train)."""

    phase: str  # e.g. "scanning" | "embedding" | "captioning" | "images" | "texts" | "clip" | "git" | "done"
    done: int
    total: int
    rate: float = 0.0  # units per second, paused time excluded
    eta: float | None = None  # seconds left, when known
    unit: str = "img"
    folder: str = ""
    paused: bool = False
    note: str = ""  # a short line a face shows beside the bar (train: epoch and loss)
    report: R | None = None

    @property
    def finished(self) -> bool:
        return self.phase == "done"


class Meter:
    """Rate and time left from a running count; time spent paused does not count."""

    def __init__(self, total: int, unit: str = "img") -> None:
        self.total = total
        self.unit = unit
        self._started = time.monotonic()
        self._paused_at: float | None = None
        self._paused_for = 0.0

    def pause(self) -> None:
        if self._paused_at is None:
            self._paused_at = time.monotonic()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._paused_for += time.monotonic() - self._paused_at
            self._paused_at = None

    @property
    def elapsed(self) -> float:
        now = self._paused_at if self._paused_at is not None else time.monotonic()
        return max(0.0, now - self._started - self._paused_for)

    def rate(self, counted: int) -> float:
        elapsed = self.elapsed
        return counted / elapsed if elapsed > 0 and counted else 0.0

    def at(self, phase: str, done: int, *, counted: int | None = None, folder: str = "", note: str = "",
           report: R | None = None) -> Progress[R]:
        """A snapshot at `done` of `total`; `counted` is what the rate is measured on (default `done`)."""
        rate = self.rate(done if counted is None else counted)
        eta = (self.total - done) / rate if rate > 0 else None
        return Progress(phase, done, self.total, rate, eta, self.unit, folder, self._paused_at is not None, note,
                        report)


def duration(seconds: float | None) -> str:
    """m:ss (h:mm:ss from an hour), or --:-- when unknown."""
    if seconds is None:
        return "--:--"
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}" if whole >= 3600 else (
        f"{whole // 60}:{whole % 60:02d}")
