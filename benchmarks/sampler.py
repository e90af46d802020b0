"""A sampling profiler for the benchmarks: where each thread of a run spends its time, by stack samples.

Why: on the GPU machine there is no py-spy, and a whole index run is held by one interpreter's threads
taking turns; a line that a thread sits on in many samples is where its time goes (Python code there
holds the GIL; a wait or a C call that releases it shows as the line that made the call).
"""

from __future__ import annotations

import re
import sys
import threading
from collections import Counter, defaultdict
from pathlib import Path
from types import FrameType


class StackSampler:
    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.samples: Counter[str] = Counter()
        self.leaves: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.ours: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self) -> StackSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(self.interval):
            names = {t.ident: re.sub(r"_\d+$", "_*", t.name) for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                name = names.get(ident, "?")
                self.samples[name] += 1
                self.leaves[name][_where(frame)] += 1
                clipgit = next((f for f in _stack(frame) if _ours(f)), None)
                self.ours[name][_where(clipgit) if clipgit else "(outside clipgit)"] += 1

    def report(self, top: int = 8) -> str:
        lines = []
        for name, count in self.samples.most_common():
            lines.append(f"  thread {name}: {count} samples")
            for label, counter in (("innermost", self.leaves[name]), ("clipgit", self.ours[name])):
                for where, n in counter.most_common(top):
                    lines.append(f"    {label:9} {n / count:5.1%}  {where}")
        return "\n".join(lines)


def _stack(frame: FrameType) -> list[FrameType]:
    out = []
    current: FrameType | None = frame
    while current is not None:
        out.append(current)
        current = current.f_back
    return out


def _ours(frame: FrameType) -> bool:
    return str(frame.f_globals.get("__name__")).startswith("clipgit")


def _where(frame: FrameType) -> str:
    return f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}:{frame.f_lineno}"
