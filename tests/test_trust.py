"""Where features meet: two writers at once, a service killed mid-job, one service per data dir, a private data
dir. Each test here failed on the code before it (see the torture test for the same seams at random)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from clipgit.core.config import Settings
from clipgit.core.lab.photos import photo
from clipgit.core.service import registry
from clipgit.core.service.client import ServiceClient
from clipgit.core.service.served_engine import ServedEngine
from clipgit.core.store.catalog import Catalog
from tests.conftest import cli_env, cli_path, library_problems, listed_twice, make_photos


def run(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([cli_path(), *args], capture_output=True, text=True, env=env, timeout=timeout)


def big_photos(folder: Path, count: int) -> None:
    """Pictures large enough that indexing them takes a few seconds on these cores (one drawn, then each
    marked apart: drawing a big one costs seconds)."""
    from PIL import ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    base = photo(0, size=(2400, 1800))
    for i in range(count):
        marked = base.copy()
        ImageDraw.Draw(marked).rectangle((40 * i, 0, 40 * i + 200, 300), fill=(i * 5 % 256, 90, 200 - i))
        marked.save(folder / f"big_{i:03d}.jpg", quality=92)


def embedded(settings: Settings) -> int:
    if not settings.db_path.exists():
        return 0
    cat = Catalog(settings.db_path)
    try:
        return cat.vector_stats(settings.clip_model)[0]
    finally:
        cat.close()


def test_two_index_runs_at_once_embed_each_file_once(settings: Settings, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 32)
    env = cli_env(settings)
    first = subprocess.Popen([cli_path(), "index", str(tmp_path / "pics"), "--json"], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.2)
    second = run(env, "index", str(tmp_path / "pics"), "--json")
    out, err = first.communicate(timeout=180)
    assert first.returncode == 0 and second.returncode == 0, (err, second.stderr)
    a, b = json.loads(out), json.loads(second.stdout)
    assert a["new"] + b["new"] == 32 and a["embedded"] + b["embedded"] == 32, (a, b)  # the second skipped
    assert library_problems(settings.data_dir, settings.clip_model) == []
    similar = json.loads(run(env, "similar", str(tmp_path / "pics" / "img_0001.png"), "--json", "-n", "40").stdout)
    assert len(similar) == 31 and listed_twice([r["path"] for r in similar]) == []
    for group in json.loads(run(env, "dupes", "--json", "--threshold", "0.5").stdout):
        paths = [f["path"] for f in group["files"]]
        assert listed_twice(paths) == [], group


def test_a_service_killed_mid_index_is_an_error_and_keeps_what_it_committed(settings: Settings,
                                                                             tmp_path: Path) -> None:
    big_photos(tmp_path / "big", 48)
    env = {**cli_env(settings), "CLIPGIT_SERVICE": "1", "CLIPGIT_BATCH_SIZE": "4"}
    job = subprocess.Popen([cli_path(), "index", str(tmp_path / "big")], env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    end = time.monotonic() + 120
    while embedded(settings) < 4 and time.monotonic() < end and job.poll() is None:
        time.sleep(0.05)
    services = registry.services()
    assert len(services) == 1 and job.poll() is None, "the run ended before the service could be killed"
    os.kill(int(services[0]["pid"]), signal.SIGKILL)
    committed = embedded(settings)
    out, err = job.communicate(timeout=120)
    assert job.returncode == 1 and "stopped in the middle of the job" in err, (job.returncode, out, err)
    assert "new 0" not in out
    assert embedded(settings) >= committed > 0  # what it committed is kept
    assert library_problems(settings.data_dir, settings.clip_model) == []
    again = run(env, "index", str(tmp_path / "big"), "--json")  # a new service; the rest is embedded
    assert again.returncode == 0 and json.loads(again.stdout)["embedded"] == 48 - committed
    assert embedded(settings) == 48 and library_problems(settings.data_dir, settings.clip_model) == []
    ServiceClient(settings).stop()


def test_the_apps_index_resumes_when_its_service_dies(settings: Settings, tmp_path: Path) -> None:
    big_photos(tmp_path / "big", 32)
    with ServedEngine(settings.with_(batch_size=4)) as engine:
        assert isinstance(engine, ServedEngine)
        last = None
        killed = False
        for event in engine.index_iter([str(tmp_path / "big")]):
            last = event
            if not killed and event.phase == "embedding" and event.done >= 4:
                os.kill(int(registry.services()[0]["pid"]), signal.SIGKILL)
                killed = True
        assert killed and last is not None and last.finished and last.report is not None
        assert engine.served  # started again, not fallen back to in-process
    assert embedded(settings) == 32 and library_problems(settings.data_dir, settings.clip_model) == []
    ServiceClient(settings).stop()


def test_one_service_per_data_dir_whatever_the_working_settings(settings: Settings, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 6)
    env = {**cli_env(settings), "CLIPGIT_SERVICE": "1"}
    other = Settings(data_dir=tmp_path / "other", clip_model=settings.clip_model, device="cpu", precision="fp32")
    try:
        assert run({**env, "CLIPGIT_BATCH_SIZE": "2"}, "index", str(tmp_path / "pics")).returncode == 0
        assert run({**env, "CLIPGIT_BATCH_SIZE": "16", "CLIPGIT_CAPTIONS": "1", "CLIPGIT_DECODE": "threads"},
                   "search", "red").returncode == 0
        assert run({**env, "CLIPGIT_DATA_DIR": str(other.data_dir)}, "search", "red").returncode == 0
        listed = json.loads(run(env, "service", "status", "--json").stdout)
        dirs = sorted(s["data_dir"] for s in listed["services"])
        assert dirs == sorted([str(settings.data_dir), str(other.data_dir)]), listed
        assert listed["running"] and listed["data_dir"] == str(settings.data_dir)
        text = run(env, "service", "status").stdout
        assert text.count("pid ") == 2 and "(this data dir)" in text
        stopped = json.loads(run(env, "service", "stop", "--all", "--json").stdout)
        assert sorted(stopped["data_dirs"]) == dirs
        assert registry.services() == [] and "no service is running" in run(env, "service", "status").stdout
    finally:
        ServiceClient(settings).stop()
        ServiceClient(other).stop()


def test_the_data_dir_is_private(settings: Settings, tmp_path: Path) -> None:
    env = cli_env(settings)
    assert run(env, "status").returncode == 0
    assert stat.S_IMODE(settings.data_dir.stat().st_mode) == 0o700
    settings.data_dir.chmod(0o755)
    out = run(env, "status")
    assert out.returncode == 0 and "made the data dir" in out.stderr and out.stderr.count("\n") == 1
    assert stat.S_IMODE(settings.data_dir.stat().st_mode) == 0o700


@pytest.mark.parametrize("writers", [2, 3])
def test_index_runs_in_threads_of_one_process_wait_for_each_other(settings: Settings, tmp_path: Path,
                                                                  writers: int) -> None:
    """The app's watcher and a request of the command line, both in the service: one process, two threads."""
    from clipgit.core.engine import Engine

    make_photos(tmp_path / "pics", 24)
    reports = []
    with Engine(settings) as engine:
        def index() -> None:
            reports.append(engine.index([str(tmp_path / "pics")]))

        threads = [threading.Thread(target=index) for _ in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert sum(r.embedded for r in reports) == 24 and len(reports) == writers
    assert library_problems(settings.data_dir, settings.clip_model) == []
