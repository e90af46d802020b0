"""Captioning files and the library: decode in a pool, caption in batches on the inference thread.

The cache is per (image, caption model) in the catalog: a library image whose
file is unchanged is never captioned twice, a changed one loses its caption
(catalog.upsert_image), a moved one keeps it (same image row).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from clipgit.core.ingest.one_job import wait_out_pause
from clipgit.core.ingest.pipeline import batches
from clipgit.core.models.git_captioner import CaptionInput
from clipgit.core.progress import Meter, Progress
from clipgit.core.store.catalog import Catalog, ImageRow
from clipgit.core.store.index_lock import IndexLock

CaptionFn = Callable[[list[CaptionInput]], "Future[list[str | None]]"]
Reader = Callable[[], Callable[[str], CaptionInput]]  # loads the model; what the pool makes of a file for it
UNDECODABLE = "the image could not be decoded"


CaptionProgress = Progress[None]  # phase "captioning"; `paused` while the face holds it


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


def caption_files(catalog: Catalog, model: str, paths: Sequence[str], caption: CaptionFn, reader: Reader,
                  *, batch_size: int, use_cache: bool, workers: int = 0) -> list[Captioned]:
    """Captions for any files, library or not; library captions come from (and go to) the cache."""
    order = list(dict.fromkeys(os.path.abspath(os.path.expanduser(p)) for p in paths))
    out: dict[str, Captioned] = {}
    todo: list[tuple[str, ImageRow | None]] = []
    for path in order:
        row = catalog.image_by_path(path)
        fresh = row if row is not None and _unchanged(row, path) else None
        if fresh is not None and use_cache:
            cached = catalog.captions_for([fresh.id], model).get(fresh.id)
            if cached is not None:
                out[path] = Captioned(path, cached, cached=True)
                continue
        todo.append((path, fresh))
    if not todo:
        return [out[p] for p in order]
    read = reader()  # loads the caption model: only when something needs a caption
    for batch in batches(todo, lambda item: read(item[0]), batch_size, workers=workers or min(4, len(todo) or 1)):
        for one in batch:
            if not one.ok:
                out[one.item[0]] = Captioned(one.item[0], None, one.error)
        good = [one for one in batch if one.value is not None]
        if not good:
            continue
        texts = caption([one.value for one in good if one.value is not None]).result()
        with catalog.transaction():
            for one, text in zip(good, texts):
                path, row = one.item
                out[path] = Captioned(path, text, None if text is not None else UNDECODABLE)
                if row is not None and use_cache and text is not None:
                    catalog.set_caption(row.id, model, text)
    return [out[p] for p in order]


def caption_library(catalog: Catalog, model: str, clip_model: str, caption: CaptionFn, reader: Reader,
                    *, batch_size: int, workers: int, cancel: threading.Event,
                    pause: threading.Event | None = None, root: str | None = None,
                    lock: IndexLock | None = None) -> Iterator[CaptionProgress]:
    """Caption every embedded image that has no caption from `model`; one transaction per batch."""
    todo = catalog.uncaptioned(model, clip_model, root)
    left: set[int] | None = None  # after a pause: what is still uncaptioned
    meter = Meter(len(todo), unit="captions")
    done = 0
    yield meter.at("captioning", 0)
    if not todo:
        return
    read = reader()  # loads the caption model: only when something needs a caption
    for batch in batches(todo, lambda item: read(item[1]), batch_size, workers=workers, cancel=cancel):
        if pause is not None and pause.is_set():
            meter.pause()
            yield meter.at("captioning", done)
            if wait_out_pause(pause, cancel, lock):  # another job may have done some of the rest meanwhile
                left = {image_id for image_id, _ in catalog.uncaptioned(model, clip_model, root)}
            meter.resume()
        if cancel.is_set():
            return
        # unreadable: the next index run records why
        good = [one for one in batch if one.value is not None and (left is None or one.item[0] in left)]
        texts = caption([one.value for one in good if one.value is not None]).result() if good else []
        with catalog.transaction():
            for one, text in zip(good, texts):
                if text is not None:  # undecodable: the next index run records why
                    catalog.set_caption(one.item[0], model, text)
        done += len(batch)
        yield meter.at("captioning", done)
