"""Where a big JPEG is decoded during a GPU index run: on the card, or by the decode threads' cores.

Why: the card's JPEG decoder takes 12 MP photos at a few hundred a second,
and idle cores can decode more beside it; small pictures it decodes far
faster than the cores could, so they always go to it. Each big JPEG goes
where it is expected to be done sooner: the card's queue (the pixels
waiting for it, at the rate it has been seen to decode) or the cores' (the
decodes already running there, at the time a decode has been seen to
take). A fixed threshold on the card's backlog sent the first batches all
to the card and the next all to the cores.
"""

from __future__ import annotations

import threading
import time

HYBRID_MIN_PIXELS = 2_000_000  # JPEGs this big may be decoded by the cores
GPU_PIXELS_PER_S = 5e9  # until measured: nvJPEG on an H200 took 488 photos of 12 MP a second
CPU_SECONDS_PER_PIXEL = 5e-9  # until measured: a 12 MP draft decode took 57 CPU-ms there
BACKLOG_S = 0.5
SMOOTHING = 0.3  # weight of each new measurement


class DecodeSplit:
    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._lock = threading.Lock()
        self._gpu_pixels = 0  # handed to the card and not yet embedded
        self._cpu_running = 0  # big decodes under way on the cores
        self._gpu_rate = GPU_PIXELS_PER_S
        self._cpu_cost = CPU_SECONDS_PER_PIXEL
        self._last_done = 0.0  # when the card last finished a batch while it had more waiting

    def to_gpu(self, pixels: int, may_decline: bool = True) -> bool:
        """True: the card decodes this JPEG (it is counted as the card's); False: the caller decodes it and
        says `cpu_done` after."""
        with self._lock:
            if may_decline and pixels >= HYBRID_MIN_PIXELS:
                gpu_wait = (self._gpu_pixels + pixels) / self._gpu_rate
                cpu_wait = (self._cpu_running + 1) * pixels * self._cpu_cost / self.workers
                if cpu_wait < gpu_wait:
                    self._cpu_running += 1
                    return False
            if not self._gpu_pixels:
                self._last_done = time.monotonic()
            self._gpu_pixels += pixels
            return True

    def backlog(self) -> bool:
        """Whether the card has more than half a second of JPEGs waiting (worker processes, which take files
        a chunk at a time, then decode the big ones of the next chunk themselves)."""
        with self._lock:
            return self._gpu_pixels / self._gpu_rate > BACKLOG_S

    def cpu_done(self, pixels: int, seconds: float) -> None:
        with self._lock:
            self._cpu_running -= 1
            if pixels and seconds > 0:
                self._cpu_cost += SMOOTHING * (seconds / pixels - self._cpu_cost)

    def gpu_done(self, pixels: int) -> None:
        """A batch's JPEGs were embedded: the card's rate is measured over the time it had work waiting."""
        if not pixels:
            return
        with self._lock:
            now = time.monotonic()
            if now > self._last_done:
                self._gpu_rate += SMOOTHING * (pixels / (now - self._last_done) - self._gpu_rate)
            self._gpu_pixels -= pixels
            self._last_done = now
