"""The app's engine stand-in (tui/lazy_engine.py): built once, on first use, and never waited for on quit."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

import pytest

from clipgit.core.config import Settings
from clipgit.core.engine import Engine
from clipgit.core.errors import ClipgitError, ConfigError
from clipgit.tui.lazy_engine import LazyEngine


class FakeEngine:
    def __init__(self) -> None:
        self.closed = False

    def folders(self) -> list[str]:
        return ["/pics"]

    def close(self) -> None:
        self.closed = True


class SlowBuild:
    """Builds FakeEngines, each only once `release` is set; counts the builds."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.made: list[FakeEngine] = []

    def __call__(self, settings: Settings) -> Engine:
        self.started.set()
        assert self.release.wait(10)
        engine = FakeEngine()
        self.made.append(engine)
        return cast(Engine, engine)


def in_thread(call: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(call())
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_settings_need_no_build_and_many_callers_share_one(tmp_path: Any) -> None:
    build = SlowBuild()
    lazy = LazyEngine(Settings(data_dir=tmp_path), build)
    assert lazy.settings.data_dir == tmp_path and not build.started.is_set()
    threads = [in_thread(lambda: lazy.folders()) for _ in range(4)]
    assert build.started.wait(5)
    build.release.set()
    for thread, out in threads:
        thread.join(5)
        assert out == [["/pics"]]
    assert len(build.made) == 1
    lazy.close()
    assert build.made[0].closed


def test_quitting_during_the_build_does_not_wait_and_the_builder_closes_what_it_built(tmp_path: Any) -> None:
    build = SlowBuild()
    lazy = LazyEngine(Settings(data_dir=tmp_path), build)
    thread, out = in_thread(lambda: lazy.folders())
    assert build.started.wait(5)
    started = time.monotonic()
    lazy.close()  # the build is still under way
    assert time.monotonic() - started < 1.0
    build.release.set()
    thread.join(5)
    assert isinstance(out[0], ClipgitError) and "closing" in str(out[0])
    assert build.made[0].closed
    with pytest.raises(ClipgitError):
        lazy.folders()


def test_a_failed_build_is_the_error_of_every_caller_and_close_builds_nothing(tmp_path: Any) -> None:
    calls = []

    def broken(settings: Settings) -> Engine:
        calls.append(settings)
        raise ConfigError("clip_model: no such model")

    lazy = LazyEngine(Settings(data_dir=tmp_path), broken)
    for _ in range(2):
        with pytest.raises(ConfigError, match="no such model"):
            lazy.folders()
    assert len(calls) == 1
    LazyEngine(Settings(data_dir=tmp_path), broken).close()
    assert len(calls) == 1
