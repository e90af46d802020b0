"""CPU priorities of indexing's threads and processes: the interface first, a GPU's feeders next, readers last.

Why it matters: on an H200, 16 reading processes at a higher priority than the two threads that feed the
card (decode there, then the model) starved them, and the card decoded at half its speed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from clipgit.core.config import Settings
from clipgit.core.decode import pool as decode_pool
from clipgit.core.inference import BACKGROUND_NICE, FEEDER_NICE, InferenceThread
from clipgit.core.models.device_plan import inference_nice

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="nice is per thread on Linux only")


def _own_nice() -> int:
    import threading

    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_inference_thread_priority_follows_its_device() -> None:
    start = _own_nice()
    feeder = InferenceThread(nice=lambda: FEEDER_NICE)
    model = InferenceThread()
    broken = InferenceThread(nice=lambda: 1 // 0)  # no torch, no device: the CPU's priority
    try:
        assert feeder.call(_own_nice) == max(start, FEEDER_NICE)
        assert model.call(_own_nice) == max(start, BACKGROUND_NICE)
        assert broken.call(_own_nice) == max(start, BACKGROUND_NICE)
    finally:
        for thread in (feeder, model, broken):
            thread.close()


def test_a_cpu_engines_model_thread_is_among_the_readers(settings: Settings) -> None:
    assert inference_nice(settings.device) == BACKGROUND_NICE  # the tests' settings run on the CPU


@pytest.mark.skipif(os.path.exists("/proc/driver/nvidia"), reason="a card may be there: torch is asked")
def test_without_a_card_the_plan_is_made_without_importing_torch() -> None:
    """A rescan that embeds nothing, or a run that only reads text, must not pay for torch's import."""
    code = ("import sys; from clipgit.core.models import device_plan as d; "
            "print(d.inference_nice('auto'), d.batch_size('auto', 0), d.batch_size('auto', 8), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(BACKGROUND_NICE), "32", "8", "False"]


def test_worker_processes_run_at_the_readers_priority() -> None:
    with decode_pool.worker_pool(1) as pool:
        assert pool.submit(os.getpriority, os.PRIO_PROCESS, 0).result(timeout=60) == max(
            os.getpriority(os.PRIO_PROCESS, 0), BACKGROUND_NICE)


def test_closing_tells_the_caller_of_a_running_job_at_once() -> None:
    """Quitting the app while the model loads: the worker waiting for the load must not hold the exit."""
    infer = InferenceThread()
    started, release = threading.Event(), threading.Event()

    def slow_load() -> str:
        started.set()
        release.wait(10)
        return "loaded"

    job = infer.submit(slow_load)
    assert started.wait(5)
    queued = infer.submit(slow_load)
    begun = time.monotonic()
    infer.close(timeout=0.1)
    with pytest.raises(RuntimeError, match="closed while this job ran"):
        job.result(timeout=1)
    with pytest.raises(RuntimeError, match="closed before this job ran"):
        queued.result(timeout=1)
    assert time.monotonic() - begun < 1.0
    release.set()  # the job ends later; settling its future again is harmless
