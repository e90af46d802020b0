"""The app's engine through the warm service, and indexing streamed from it: one copy of the models per user."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clipgit.core.config import Settings
from clipgit.core.engine import Engine, SearchResult
from clipgit.core.service.client import ServiceClient, ServiceUnavailable
from clipgit.core.service.served_engine import ServedEngine
from clipgit.core.store.catalog import Catalog
from tests.conftest import cli_env, cli_path, make_photos

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets here")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def served(settings: Settings) -> Iterator[Settings]:
    s = dataclasses.replace(settings, service=True, caption_batch_size=2)
    yield s
    ServiceClient(s).stop()


def _answers(results: list[SearchResult]) -> list[tuple[str, float]]:
    return [(r.path, round(r.score, 5)) for r in results]


def test_the_app_engine_indexes_searches_and_captions_through_the_service(served: Settings, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 8)
    engine = ServedEngine(served)
    try:
        engine.load_model()
        assert engine.served and engine.device_label() == "cpu fp32 (service)" and engine.note == ""
        events = list(engine.index_iter([str(tmp_path / "pics")]))
        assert any(e.phase == "embedding" and e.total == 8 for e in events)
        assert events[-1].finished and events[-1].report is not None and events[-1].report.new == 8
        # search sees the new images at once, and answers as the engine in this process does
        with Engine(dataclasses.replace(served, service=False)) as local:
            assert _answers(engine.search("a red bicycle", top=5)) == _answers(local.search("a red bicycle", top=5))
            pic = str(tmp_path / "pics" / "img_0002.png")
            assert _answers(engine.similar(pic)) == _answers(local.similar(pic))
        assert [f.images for f in engine.folders()] == [8]  # library state is read here, with no model

        # library captions: paused before they start, resumed later; the count goes on where it was
        pause, cancel = threading.Event(), threading.Event()
        pause.set()
        during: list[int] = []

        def resume() -> None:
            time.sleep(1.0)
            during.append(_captions(served))
            pause.clear()

        threading.Thread(target=resume).start()
        progress = list(engine.caption_library_iter(cancel, pause))
        assert during and during[0] <= served.caption_batch_size  # at most the batch in flight went on
        assert _captions(served) == 8 and progress[-1].done == progress[-1].total
        assert engine.caption([pic])[0].caption
    finally:
        engine.close()


def _captions(settings: Settings) -> int:
    cat = Catalog(settings.db_path)
    try:
        return cat.caption_count(settings.caption_model)
    finally:
        cat.close()


def test_a_service_that_went_away_is_started_again_and_none_at_all_runs_in_process(
        served: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_photos(tmp_path / "pics", 4)
    engine = ServedEngine(served)
    try:
        engine.load_model()
        list(engine.index_iter([str(tmp_path / "pics")]))
        status = ServiceClient(served).status()
        assert status is not None
        pid = status["pid"]
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
        assert len(engine.search("red")) == 4 and engine.served
        status = ServiceClient(served).status()
        assert status is not None and status["pid"] != pid
    finally:
        engine.close()

    def refuse(self: ServiceClient) -> str:
        raise ServiceUnavailable("the clipgit service did not start in 30 s")

    monkeypatch.setattr(ServiceClient, "ensure", refuse)
    ServiceClient(served).stop()
    fallback = ServedEngine(served)
    try:
        fallback.load_model()
        assert not fallback.served and fallback.note.startswith("running in-process: ")
        assert fallback.device_label() == "cpu fp32" and len(fallback.search("red")) == 4
    finally:
        fallback.close()


@pytest.fixture
def cli_served(settings: Settings) -> Iterator[Settings]:
    """The settings the command line builds from cli_env (its batch sizes are the defaults)."""
    s = Settings(data_dir=settings.data_dir, clip_model=settings.clip_model, caption_model=settings.caption_model,
                 device="cpu", precision="fp32")
    yield s
    ServiceClient(s).stop()


def test_command_line_index_streams_from_the_service_and_the_app_launch_needs_no_torch(
        cli_served: Settings, tmp_path: Path) -> None:
    served = cli_served
    make_photos(tmp_path / "pics", 6)
    env = cli_env(served)
    env["CLIPGIT_SERVICE"] = "1"
    out = subprocess.run([cli_path(), "index", str(tmp_path / "pics"), "--json"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and json.loads(out.stdout)["new"] == 6
    assert ServiceClient(served).running()  # indexing ran in the service
    warm = subprocess.run([cli_path(), "search", "red", "--json"], env=env, capture_output=True, text=True)
    cold = subprocess.run([cli_path(), "search", "red", "--json", "--no-service"], env=env, capture_output=True,
                          text=True)
    assert warm.stdout == cold.stdout and len(json.loads(warm.stdout)) == 6
    bad = subprocess.run([cli_path(), "index", str(tmp_path / "nowhere")], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1 and "folder not found" in bad.stderr

    probe = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "app_launch.py"), str(time.time()), "red"],
                           env=env, capture_output=True, text=True, timeout=120)
    answer = json.loads(probe.stdout)
    assert answer["results"] == 6 and answer["torch"] is False and answer["device"] == "cpu fp32 (service)"
