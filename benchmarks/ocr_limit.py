"""benchmarks/ocr.py's runs and its limit: the reader's network calls recorded, then replayed alone.

Apart from ocr.py so the whole-command rows (ocr_whole.py) and the main script share them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clipgit.core.models.ocr import OcrReader


@dataclass
class Run:
    name: str
    texts: list[str] = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0
    count: int = 0


def open_picture(path: Path) -> Any:
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        upright = ImageOps.exif_transpose(img)
        upright.load()
        return upright


class _Recorder:
    """Stands in for an onnxruntime session: passes calls through and keeps their inputs for the replay."""

    def __init__(self, session: Any, log: list[tuple[Any, dict[str, Any]]]) -> None:
        self.session, self.log = session, log

    def get_inputs(self) -> Any:
        return self.session.get_inputs()

    def run(self, outputs: Any, feeds: dict[str, Any]) -> Any:
        self.log.append((self.session, {k: v.copy() for k, v in feeds.items()}))
        return self.session.run(outputs, feeds)


Recorded = list[tuple[Any, dict[str, Any]]]


def record(reader: OcrReader, paths: list[Path], batch: int, load: Callable[[str], Any] | None = None) -> Recorded:
    """Every network call the reader makes on these files, with its inputs, `batch` pictures a call as ours."""
    sessions = reader._loaded()
    log: Recorded = []
    real = sessions.det, sessions.rec, sessions.cls
    sessions.det, sessions.rec = _Recorder(real[0], log), _Recorder(real[1], log)
    sessions.cls = _Recorder(real[2], log) if real[2] is not None else None
    opener = load or (lambda path: open_picture(Path(path)))
    try:
        for start in range(0, len(paths), batch):
            reader.read([opener(str(p)) for p in paths[start : start + batch]])
    finally:
        sessions.det, sessions.rec, sessions.cls = real
    return log


def replay(log: Recorded, count: int) -> Run:
    """The networks alone: the recorded runs, same inputs, back to back on pre-made tensors."""
    run = Run("limit: OCR networks alone (same inputs)")
    t0, c0 = time.perf_counter(), time.process_time()
    for session, feeds in log:
        session.run(None, feeds)
    run.wall, run.cpu, run.count = time.perf_counter() - t0, time.process_time() - c0, count
    return run
