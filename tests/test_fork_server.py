"""How the decode pool's workers start: forked from a server that loaded the decoder, started early."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest


def _parent_pid() -> int:
    return os.getppid()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="spawn elsewhere")
def test_on_linux_workers_fork_from_a_server_that_loaded_the_decoder() -> None:
    """One interpreter start and one import for the whole pool: a worker's parent is the fork server, not
    this process."""
    from concurrent.futures import ProcessPoolExecutor

    from clipgit.core.decode.pool import start_method

    context = start_method()
    assert context.get_start_method() == "forkserver"
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        assert pool.submit(_parent_pid).result() != os.getpid()


_SERVER_EARLY = """
import sys, time
from multiprocessing import forkserver
from pathlib import Path
from clipgit.core.config import Settings
from clipgit.core.decode.pool import start_server_early
from clipgit.core.engine import Engine
assert start_server_early("auto", cores=2) is None and start_server_early("threads", cores=64) is None
assert forkserver._forkserver._forkserver_pid is None
settings = Settings(data_dir=Path(sys.argv[1]), clip_model=sys.argv[2], device="cpu", precision="fp32",
                    decode="processes")
with Engine(settings) as engine:
    engine.load_model()
    for _ in range(300):
        if forkserver._forkserver._forkserver_pid is not None:
            break
        time.sleep(0.05)
print(forkserver._forkserver._forkserver_pid)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server is Linux's")
def test_the_fork_server_starts_while_the_model_loads(tiny_clip: Path, tmp_path: Path) -> None:
    """Where runs may use worker processes, loading the model starts the pool's fork server, so a run's
    first pool does not wait for its interpreter and imports; on 2 cores, or with threads, it never starts."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", _SERVER_EARLY, str(tmp_path / "data"), str(tiny_clip)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().isdigit(), done.stdout
