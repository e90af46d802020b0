"""Where a big JPEG is decoded during a GPU index run: on the card, or by a decode thread's core.

Why: the card's JPEG decoder takes 12 MP photos at a few hundred a second,
and idle cores can decode more beside it; small pictures it decodes far
faster than the cores could, so they always go to it. A big JPEG is decoded
by the cores only while the card has a second of JPEGs waiting, and only
by so many threads at once that the rest keep reading files for the card:
on an H200, letting every thread decode (sending photos wherever they were
expected to be done sooner) starved the card, 260 photos a second against
452 with a backlog rule.
"""

from __future__ import annotations

import threading

HYBRID_MIN_PIXELS = 2_000_000  # JPEGs this big may be decoded by the cores
# The backlog is counted in this many pixels a second: nvJPEG with torch's old resize (478 photos of 12 MP a
# second on an H200). The card's path now takes about 790, so a "second" of backlog is about 0.6 s of its
# work; the whole-run figures (550-617 a second) were measured with these values, which are kept until a GPU
# run measures others.
GPU_PIXELS_PER_S = 5e9
BACKLOG_S = 1.0  # the card's work waiting before the cores help (about two batches of 12 MP photos)
READERS = 4  # decode threads that always stay free to read files for the card


class DecodeSplit:
    def __init__(self, workers: int) -> None:
        self.most_on_cores = max(0, workers - READERS)
        self._lock = threading.Lock()
        self._gpu_pixels = 0  # handed to the card and not yet embedded
        self._cpu_running = 0  # big decodes under way on the cores

    def to_gpu(self, pixels: int, may_decline: bool = True) -> bool:
        """True: the card decodes this JPEG (it is counted as the card's); False: the caller decodes it and
        says `cpu_done` after."""
        with self._lock:
            if (may_decline and pixels >= HYBRID_MIN_PIXELS and self._cpu_running < self.most_on_cores
                    and self._behind()):
                self._cpu_running += 1
                return False
            self._gpu_pixels += pixels
            return True

    def backlog(self) -> bool:
        """Whether the card has a second of JPEGs waiting (worker processes, which take files a chunk at a
        time, then decode the big ones of the next chunk themselves)."""
        with self._lock:
            return self._behind()

    def _behind(self) -> bool:
        """(The lock held.)"""
        return self._gpu_pixels / GPU_PIXELS_PER_S >= BACKLOG_S

    def cpu_done(self) -> None:
        with self._lock:
            self._cpu_running -= 1

    def gpu_done(self, pixels: int) -> None:
        """A batch's JPEGs were embedded."""
        with self._lock:
            self._gpu_pixels -= pixels
