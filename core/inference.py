"""The one thread that owns every torch model.

Why one thread: torch models are not safe to drive from several threads at
once, and a single owner lets interactive work (a query being typed) jump
ahead of batch work (the next 32 images of an index run) through a priority
queue, so search answers at once while a large library indexes.
"""

from __future__ import annotations

import itertools
import os
import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from typing import Any, TypeVar

R = TypeVar("R")
A = TypeVar("A")

INTERACTIVE = 0
BATCH = 10
BACKGROUND_NICE = 10
FEEDER_NICE = 5  # the threads that feed a GPU: ahead of the readers (10), behind the interface (0)


def lower_thread_priority(nice: int = BACKGROUND_NICE) -> None:
    """Run the calling thread (and threads it starts, like torch's pool) at a lower CPU priority.

    Indexing keeps every core busy; at nice 10 its threads yield the CPU to the
    interface thread at once, so key presses still echo promptly. The two threads
    that feed a GPU (decode on the card, then the model) run at nice 5: on an H200
    with 16 reading processes at the same nice they were starved, and the card
    decoded at half its speed. Linux only (nice is per thread there); elsewhere
    this does nothing. A thread's priority is only ever lowered.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), nice))
    except (AttributeError, OSError):
        pass


def then(first: Future[A], next_step: Callable[[A], Future[R]]) -> Future[R]:
    """A future of `next_step(first's result)`, chained without a thread waiting in between.

    Why: two pipeline stages on two threads (GPU decode, then the model) with nobody blocked on the first.
    A failure in either stage ends in the returned future.
    """
    out: Future[R] = Future()

    def copy(done: Future[R]) -> None:
        if done.cancelled():
            out.cancel()
        elif done.exception() is not None:
            out.set_exception(done.exception())
        else:
            out.set_result(done.result())

    def on_first(done: Future[A]) -> None:
        try:
            step = next_step(done.result())
        except BaseException as exc:  # the first stage's failure, or the second's refusal to start
            out.set_exception(exc)
            return
        step.add_done_callback(copy)

    first.add_done_callback(on_first)
    return out


_STOP = object()


def _settle(future: Future[Any], result: Any = None, exc: BaseException | None = None) -> None:
    """Settle a job's future once: close may have failed it already while it ran."""
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass


class InferenceThread:
    def __init__(self, name: str = "clipgit-inference", nice: Callable[[], int] | None = None) -> None:
        """`nice`: the thread's CPU priority, asked on the thread when it starts (it may import torch to
        find the device: a GPU's feeder runs ahead of the readers, a CPU model among them)."""
        self._name = name
        self._nice = nice
        self._queue: queue.PriorityQueue[tuple[int, int, Any, Any]] = queue.PriorityQueue()
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._running: Future[Any] | None = None  # the job on the thread now

    def submit(self, fn: Callable[..., R], *args: Any, priority: int = BATCH) -> Future[R]:
        future: Future[R] = Future()
        with self._lock:
            if self._closed:
                future.set_exception(RuntimeError("the inference thread is closed"))
                return future
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._queue.put((priority, next(self._counter), future, (fn, args)))
        return future

    def call(self, fn: Callable[..., R], *args: Any, priority: int = INTERACTIVE) -> R:
        """Run on the inference thread and wait; exceptions come back to the caller."""
        if threading.current_thread() is self._thread:
            return fn(*args)
        return self.submit(fn, *args, priority=priority).result()

    def _run(self) -> None:
        try:
            nice = self._nice() if self._nice is not None else BACKGROUND_NICE
        except Exception:  # no torch, no such device: the model's own load says so to whoever asks
            nice = BACKGROUND_NICE
        lower_thread_priority(nice)
        while True:
            _, _, future, job = self._queue.get()
            if job is _STOP:
                self._drain()
                future.set_result(None)
                return
            if not future.set_running_or_notify_cancel():
                continue
            fn, args = job
            with self._lock:
                if self._closed:  # taken from the queue as close emptied it
                    _settle(future, exc=RuntimeError("the inference thread closed before this job ran"))
                    continue
                self._running = future
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the waiting caller
                _settle(future, exc=exc)
            else:
                _settle(future, result)
            with self._lock:
                self._running = None

    def _drain(self) -> None:
        """Fail the jobs still queued at close, so no caller waits forever."""
        while True:
            try:
                _, _, future, _ = self._queue.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                future.set_exception(RuntimeError("the inference thread closed before this job ran"))

    def close(self, timeout: float | None = 10.0) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            if thread is None:
                return
            running = self._running
        self._drain()  # the queued jobs fail now: their callers are not kept waiting for the thread to get to them
        if running is not None:  # its caller is told now, not when the job ends (a model load takes seconds)
            _settle(running, exc=RuntimeError("the inference thread closed while this job ran"))
        stop: Future[Any] = Future()
        self._queue.put((-1, next(self._counter), stop, _STOP))
        thread.join(timeout)
