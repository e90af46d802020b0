"""The one decoded-batches pipeline: index, caption, eval and train all feed their models through it.

Why this shape: decoding runs ahead of the consumer through a bounded window,
so the inference thread works on one batch while the pool decodes the next,
and memory stays flat however large the folder. Items come back in order,
each with its value or the reason it could not be decoded (`ImageUnreadable`
becomes a reason, anything else is a bug and propagates). The backend that
runs `prepare` is swappable: threads here (PIL releases the GIL while it
decodes, which is enough on a few cores); processes or GPU decode where a
machine has more to give.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from clipgit.core.errors import Cancelled, ImageUnreadable
from clipgit.core.inference import lower_thread_priority

T = TypeVar("T")
D = TypeVar("D")


@dataclass(frozen=True)
class Decoded(Generic[T, D]):
    item: T
    value: D | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class DecodeBackend(Protocol):
    """Runs `prepare` on items away from the caller's thread."""

    workers: int

    def submit(self, fn: Callable[[T], D], item: T) -> Future[D]: ...

    def close(self) -> None: ...


class ThreadBackend:
    """A pool of low-priority threads (see `lower_thread_priority`: the interface stays responsive)."""

    def __init__(self, workers: int, name: str = "clipgit-decode") -> None:
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=name, initializer=lower_thread_priority)

    def submit(self, fn: Callable[[T], D], item: T) -> Future[D]:
        return self._pool.submit(fn, item)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class InlineBackend:
    """Not a pool: `decoded` runs `prepare` on the consumer's thread, as it asks for each item.

    Why: where worker processes already do the reading and decoding, what is left per item (sorting a
    prepared file into the run) costs less than handing it to a thread and back: a future, a lock and a
    wake-up each way, and under a sandboxing kernel each wake-up is a system call. Without even a future of
    its own, the run's thread spent 11-12 us a file there instead of 14.
    """


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def _guarded(prepare: Callable[[T], D]) -> Callable[[T], tuple[D | None, str | None]]:
    def run(item: T) -> tuple[D | None, str | None]:
        try:
            return prepare(item), None
        except ImageUnreadable as exc:
            return None, str(exc)

    return run


def decoded(items: Iterable[T], prepare: Callable[[T], D], *, workers: int = 0, window: int = 0,
            cancel: threading.Event | None = None, backend: DecodeBackend | InlineBackend | None = None,
            cancelled: str | None = None) -> Iterator[Decoded[T, D]]:
    """Prepared items in order, `window` of them in flight ahead of the consumer (none with InlineBackend).

    On cancel the pipeline stops taking new items: it returns, or raises
    `Cancelled(cancelled)` when that message is given. Closing the generator
    early cancels what is queued.
    """
    if isinstance(backend, InlineBackend):
        yield from _inline(items, prepare, cancel or threading.Event(), cancelled)
        return
    own = backend is None
    pool: DecodeBackend = backend if backend is not None else ThreadBackend(workers or default_workers())
    ahead = window or 2 * pool.workers
    run = _guarded(prepare)
    todo = iter(items)
    pending: deque[tuple[T, Future[tuple[D | None, str | None]]]] = deque()
    stop = cancel or threading.Event()

    def fill() -> None:
        while len(pending) < ahead and not stop.is_set():
            try:
                item = next(todo)
            except StopIteration:
                return
            pending.append((item, pool.submit(run, item)))

    try:
        fill()
        while pending:
            if stop.is_set():
                break
            item, future = pending.popleft()
            value, error = future.result()
            fill()
            yield Decoded(item, value, error)
        if stop.is_set() and cancelled is not None:
            raise Cancelled(cancelled)
    finally:
        for _, future in pending:
            future.cancel()
        if own:
            pool.close()


def _inline(items: Iterable[T], prepare: Callable[[T], D], stop: threading.Event,
            cancelled: str | None) -> Iterator[Decoded[T, D]]:
    """`decoded` with InlineBackend: each item prepared as it is asked for, on the consumer's thread."""
    run = _guarded(prepare)
    for item in items:
        if stop.is_set():
            break
        value, error = run(item)
        yield Decoded(item, value, error)
    if stop.is_set() and cancelled is not None:
        raise Cancelled(cancelled)


def batches(items: Iterable[T], prepare: Callable[[T], D], batch_size: int, *, workers: int = 0,
            cancel: threading.Event | None = None, backend: DecodeBackend | None = None,
            cancelled: str | None = None) -> Iterator[list[Decoded[T, D]]]:
    """`decoded` grouped into lists of `batch_size` (the last may be shorter); the window covers two batches."""
    batch: list[Decoded[T, D]] = []
    for one in decoded(items, prepare, workers=workers, window=2 * batch_size, cancel=cancel, backend=backend,
                       cancelled=cancelled):
        batch.append(one)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch

