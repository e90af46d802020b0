"""A background job over the whole library (captions, text in pictures): a non-visual component that owns
its run, its pause, its progress and whether its models can load, and posts its own messages.

Why one class: captioning and text reading run the same way (in the background once indexing ends, on the
engine's inference thread, a search first; stopped for an index run and started again after it; paused
together by `p`). Each subclass says which setting turns it on, which engine job it runs and how its
status line reads; its nested messages subclass these, so handlers keep their names
(`on_captioner_progressed`, `on_text_reader_finished`). Progress messages replace each other in the queue,
so a fast run never floods the interface.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from textual.message import Message
from textual.widget import Widget

from clipgit.core.errors import ModelUnavailable
from clipgit.core.progress import duration

if TYPE_CHECKING:
    from clipgit.core.engine import Engine


class LibraryJob(Widget):
    DEFAULT_CSS = "LibraryJob { display: none; }"
    GROUP = "library-job"  # the worker group of the run
    NOUN = ("job", "running the job")  # for the status line: "<noun> paused at", "<doing> 3/10"

    class Unavailable(Message):
        """The job's models cannot be used; the job is not run again."""

        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    class Progressed(Message):
        def __init__(self, event: Any, run: threading.Event) -> None:
            super().__init__()
            self.event = event
            self.run = run  # which run, as Finished says

        def can_replace(self, message: Message) -> bool:
            return type(message) is type(self)

    class Finished(Message):
        def __init__(self, cancel: threading.Event) -> None:
            super().__init__()
            self.cancel = cancel  # which run: one stopped for an index run may end after the next has begun

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.unavailable: str | None = None
        self.running = False
        self.progress: Any = None
        self.pause = threading.Event()
        self._cancel = threading.Event()
        # done by earlier runs of this pass over the library: a run stopped for an index run is started again
        # on what is left, and the status line goes on counting (16/67, not 8/59)
        self._carried = 0

    # what a job is --------------------------------------------------------------------
    def wanted(self) -> bool:
        """Whether the settings ask for this job."""
        raise NotImplementedError

    def events(self, cancel: threading.Event) -> Iterator[Any]:
        """The engine's run over the library, as progress events."""
        raise NotImplementedError

    # running it ------------------------------------------------------------------------
    def start_background(self) -> None:
        """Run over the library unless it runs already (a run being stopped is replaced by a new one)."""
        if not self.wanted() or self.unavailable is not None:
            return
        if self.running and not self._cancel.is_set():
            return
        if self.progress is not None:  # a stopped run whose end has not come back yet
            self._carried += self.progress.done
            self.progress = None
        self.running = True
        self._cancel = threading.Event()
        cancel = self._cancel
        self.run_worker(lambda: self._library(cancel), thread=True, group=self.GROUP, exit_on_error=False)

    def _library(self, cancel: threading.Event) -> None:
        try:
            for event in self.events(cancel):
                self.post_message(self.Progressed(event, cancel))
        except ModelUnavailable as exc:
            self.post_message(self.Unavailable(str(exc)))
        finally:
            self.post_message(self.Finished(cancel))

    def stop(self) -> None:
        self._cancel.set()

    def set_paused(self, paused: bool) -> None:
        if paused:
            self.pause.set()
        else:
            self.pause.clear()

    # its own messages first: state here, then they bubble on to the app ------------------
    def _unavailable(self, message: Unavailable) -> None:
        if self.unavailable is not None:
            message.stop()  # said once is enough
        self.unavailable = message.error

    def _progressed(self, message: Progressed) -> None:
        if message.run is not self._cancel:
            message.stop()  # an earlier run's, counted already
            return
        self.progress = message.event

    def _finished(self, message: Finished) -> None:
        if message.cancel is not self._cancel:
            message.stop()  # an earlier run's end: the current one goes on
            return
        self.running = False
        if message.cancel.is_set() and self.progress is not None:  # stopped: the next run goes on counting
            self._carried += self.progress.done
        elif not message.cancel.is_set():
            self._carried = 0  # the library is done
        self.progress = None

    def status_text(self) -> str:
        p = self.progress
        if self.running and p is not None and p.phase == "waiting":  # another job on this library goes first
            return str(p.note).split(" (")[0]
        if not self.running or p is None or not p.total:
            return ""
        noun, doing = self.NOUN
        done, total = self._carried + p.done, self._carried + p.total
        if self.pause.is_set():
            return f"{noun} paused at {done}/{total} (p resumes)"
        return f"{doing} {done}/{total} · {p.rate:.2f}/s · {duration(p.eta)} left (p pauses)"
