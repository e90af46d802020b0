"""The engine, built after the app's first paint.

Why: importing the engine brings numpy, Pillow, the catalog's statements and the job modules (about a
third of a second here), and none of it is needed to draw the app's first frame. The app is handed this
stand-in at once; the first worker to touch it (the model load, started on mount) builds the real engine
on its thread, and every other caller waits for that one build. `settings` is there from the start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from clipgit.core.errors import ClipgitError

QUIT_WAIT_S = 2.0

if TYPE_CHECKING:
    from clipgit.core.config import Settings
    from clipgit.core.engine import Engine


def default_engine(settings: Settings) -> Engine:
    """The warm service's engine where a service can run (see core/service/served_engine.py), else in-process."""
    from clipgit.core.engine import Engine
    from clipgit.core.service.client import ServiceClient
    from clipgit.core.service.served_engine import ServedEngine

    return ServedEngine(settings) if ServiceClient.usable(settings) else Engine(settings)


class LazyEngine:
    """Every attribute but `settings` is the built engine's; the build happens once, on first use.

    The lock is never held while building, so quitting (close) never waits for a build under way: the
    builder closes what it built when it finds the app has closed meanwhile."""

    def __init__(self, settings: Settings, build: Callable[[Settings], Engine] = default_engine) -> None:
        self.settings = settings
        self._build = build
        self._engine: Engine | None = None
        self._failed: BaseException | None = None
        self._building: threading.Event | None = None
        self._closed = False
        self._lock = threading.Lock()

    def built(self) -> Engine:
        with self._lock:
            if self._engine is not None:
                return self._engine
            if self._closed:
                raise ClipgitError("the app is closing")
            if self._failed is not None:
                raise self._failed
            done, builder = self._building, self._building is None
            if done is None:
                done = self._building = threading.Event()
        if not builder:
            done.wait()
            return self.built()
        engine: Engine | None = None
        try:
            engine = self._build(self.settings)
        except BaseException as exc:
            with self._lock:
                self._failed = exc
            raise
        finally:
            with self._lock:
                closed = self._closed
                if engine is not None and not closed:
                    self._engine = engine
            done.set()
        if closed:
            engine.close()
            raise ClipgitError("the app is closing")
        return engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self.built(), name)

    def close(self, wait: float = QUIT_WAIT_S) -> None:
        """Close the engine if one was built; a build under way closes its engine itself when it ends.

        Quitting waits at most `wait` seconds: a model still loading in-process (torch's import alone takes
        seconds) is left to the process's exit, its thread being a daemon; the worker that waited for it
        was told at once (core/inference.py)."""
        with self._lock:
            self._closed = True
            engine = self._engine
        if engine is not None:
            closing = threading.Thread(target=engine.close, name="clipgit-close", daemon=True)
            closing.start()
            closing.join(wait)
