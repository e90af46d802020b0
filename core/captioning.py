"""Captioning files and the library: decode in a pool, caption in batches on the inference thread.

The cache is per (image, caption model) in the catalog: a library image whose
file is unchanged is never captioned twice, a changed one loses its caption
(catalog.upsert_image), a moved one keeps it (same image row).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from PIL import Image

from .catalog import Catalog, ImageRow
from .errors import ImageUnreadable
from .images import load as load_image
from .inference import lower_thread_priority

CaptionFn = Callable[[list[Image.Image]], "Future[list[str]]"]


@dataclass(frozen=True)
class CaptionProgress:
    done: int
    total: int
    rate: float  # captions per second
    eta: float | None
    paused: bool


@dataclass(frozen=True)
class Captioned:
    path: str
    caption: str | None
    error: str | None = None
    cached: bool = False

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path, "caption": self.caption}
        if self.error:
            out["error"] = self.error
        return out


def _unchanged(row: ImageRow, path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_size == row.size and st.st_mtime_ns == row.mtime_ns and row.error is None


def caption_files(catalog: Catalog, model: str, paths: Sequence[str], caption: CaptionFn, draft: Callable[[], int],
                  *, batch_size: int, max_pixels: int, use_cache: bool) -> list[Captioned]:
    """Captions for any files, library or not; library captions come from (and go to) the cache."""
    out: dict[str, Captioned] = {}
    todo: list[tuple[str, ImageRow | None]] = []
    for path in dict.fromkeys(os.path.abspath(os.path.expanduser(p)) for p in paths):
        row = catalog.image_by_path(path)
        if row is not None and use_cache and _unchanged(row, path):
            cached = catalog.captions_for([row.id], model).get(row.id)
            if cached is not None:
                out[path] = Captioned(path, cached, cached=True)
                continue
        todo.append((path, row if row is not None and _unchanged(row, path) else None))
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        images, ok = [], []
        for path, row in chunk:
            try:
                images.append(load_image(path, draft_size=draft(), max_pixels=max_pixels).image)
                ok.append((path, row))
            except ImageUnreadable as exc:
                out[path] = Captioned(path, None, str(exc))
        if not images:
            continue
        texts = caption(images).result()
        with catalog.transaction():
            for (path, row), text in zip(ok, texts):
                out[path] = Captioned(path, text)
                if row is not None and use_cache:
                    catalog.set_caption(row.id, model, text)
    order = list(dict.fromkeys(os.path.abspath(os.path.expanduser(p)) for p in paths))
    return [out[p] for p in order]


def caption_library(catalog: Catalog, model: str, clip_model: str, caption: CaptionFn, draft: Callable[[], int],
                    *, batch_size: int, max_pixels: int, workers: int, cancel: threading.Event,
                    pause: threading.Event | None = None, root: str | None = None) -> Iterator[CaptionProgress]:
    """Caption every embedded image that has no caption from `model`; one transaction per batch."""
    todo = catalog.uncaptioned(model, clip_model, root)
    total, done = len(todo), 0
    started = time.monotonic()
    paused_for = 0.0

    def progress(paused: bool = False) -> CaptionProgress:
        elapsed = time.monotonic() - started - paused_for
        rate = done / elapsed if elapsed > 0 and done else 0.0
        return CaptionProgress(done, total, rate, (total - done) / rate if rate else None, paused)

    def decode(item: tuple[int, str]) -> tuple[int, str, Image.Image | None]:
        try:
            return item[0], item[1], load_image(item[1], draft_size=draft(), max_pixels=max_pixels).image
        except ImageUnreadable:
            return item[0], item[1], None  # the next index run records why

    yield progress()
    with ThreadPoolExecutor(workers, thread_name_prefix="clipgit-caption-decode",
                            initializer=lower_thread_priority) as pool:
        batches = [todo[i : i + batch_size] for i in range(0, total, batch_size)]
        pending = pool.map(decode, batches[0]) if batches else iter(())
        for index in range(len(batches)):
            if pause is not None and pause.is_set():
                yield progress(paused=True)
                waited = time.monotonic()
                while pause.is_set() and not cancel.is_set():
                    time.sleep(0.1)
                paused_for += time.monotonic() - waited
            if cancel.is_set():
                return
            decoded = [d for d in pending if d[2] is not None]
            if index + 1 < len(batches):  # decode the next batch while this one is captioned
                pending = pool.map(decode, batches[index + 1])
            texts = caption([d[2] for d in decoded]).result() if decoded else []  # type: ignore[misc]
            with catalog.transaction():
                for (image_id, _, _), text in zip(decoded, texts):
                    catalog.set_caption(image_id, model, text)
            done += len(batches[index])
            yield progress()
