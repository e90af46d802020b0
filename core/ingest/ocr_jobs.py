"""Reading the text in files and in the library: decode in a pool, read in batches on the inference thread.

As captions (caption_jobs.py): the cache is per (image, OCR model) in the catalog, so a library image whose file
is unchanged is read once; a changed one loses its text (a trigger on its fingerprint, migration 7) and is read
again; a moved one keeps it. Pictures are decoded EXIF-turned, as the reader wants them: a big JPEG first at
the scale detection needs (decode/preview.py), and at full resolution only when detection found text in it
(small text needs every pixel); other pictures whole.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PIL import Image

from clipgit.core.decode.bgr import Bgr
from clipgit.core.decode.image import read_bytes
from clipgit.core.decode.preview import DETECT_SIDE, Preview, for_reading
from clipgit.core.errors import ImageUnreadable
from clipgit.core.ingest.caption_jobs import _unchanged
from clipgit.core.ingest.one_job import wait_out_pause
from clipgit.core.ingest.pipeline import batches
from clipgit.core.progress import Meter, Progress
from clipgit.core.store.catalog import Catalog, ImageRow
from clipgit.core.store.index_lock import IndexLock

if TYPE_CHECKING:  # the reader imports OpenCV (half a second): only a job that reads loads it
    from clipgit.core.models.ocr import OcrResult

OCR_MODEL = "ppocrv6-tiny"  # the bundled model set the library's text is read with (ocr.OcrModels.bundled)
Reading = Image.Image | Bgr | Preview  # what the decode pool hands the reader (preview.for_reading)
ReadFn = Callable[[list[Reading]], "Future[list[OcrResult | ImageUnreadable]]"]
OcrProgress = Progress[None]  # phase "reading"; `paused` while the face holds it


@dataclass(frozen=True)
class TextRead:
    """One file's text: `lines` as {"text", "box" (4 corners [x, y]), "confidence"}; `error` when unreadable."""

    path: str
    text: str | None
    lines: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    cached: bool = False

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path, "text": self.text, "lines": self.lines}
        if self.error:
            out["error"] = self.error
        return out


def lines_json(result: OcrResult) -> list[dict[str, Any]]:
    return [{"text": line.text, "box": line.box, "confidence": round(float(line.confidence), 4)}
            for line in result.lines]


def picture(max_pixels: int) -> Callable[[str], Reading]:
    """What the decode pool makes of a file for the reader: EXIF-turned, whole or as a Preview."""
    def read(path: str) -> Reading:
        return for_reading(read_bytes(path), DETECT_SIDE, max_pixels)
    return read


def ocr_files(catalog: Catalog, model: str, paths: Sequence[str], read: ReadFn, *, max_pixels: int,
              batch_size: int = 8, workers: int = 0) -> list[TextRead]:
    """Text of any files, library or not; library images' come from (and go to) the cache."""
    order = list(dict.fromkeys(os.path.abspath(os.path.expanduser(p)) for p in paths))
    out: dict[str, TextRead] = {}
    todo: list[tuple[str, ImageRow | None]] = []
    for path in order:
        row = catalog.image_by_path(path)
        fresh = row if row is not None and _unchanged(row, path) else None
        if fresh is not None:
            cached = catalog.texts_for([fresh.id], model).get(fresh.id)
            if cached is not None:
                out[path] = TextRead(path, cached[0], cached[1], cached=True)
                continue
        todo.append((path, fresh))
    load = picture(max_pixels)
    for batch in batches(todo, lambda item: load(item[0]), batch_size, workers=workers or min(4, len(todo) or 1)):
        for one in batch:
            if not one.ok:
                out[one.item[0]] = TextRead(one.item[0], None, error=one.error)
        good = [one for one in batch if one.value is not None]
        if not good:
            continue
        results = read([one.value for one in good if one.value is not None]).result()
        with catalog.transaction():
            for one, result in zip(good, results):
                path, row = one.item
                if isinstance(result, ImageUnreadable):
                    out[path] = TextRead(path, None, error=str(result))
                    continue
                lines = lines_json(result)
                out[path] = TextRead(path, result.text, lines)
                if row is not None:
                    catalog.set_text(row.id, model, result.text, lines)
    return [out[p] for p in order]


def ocr_library(catalog: Catalog, model: str, clip_model: str, read: ReadFn, *, max_pixels: int,
                batch_size: int, workers: int, cancel: threading.Event, pause: threading.Event | None = None,
                root: str | None = None, lock: IndexLock | None = None) -> Iterator[OcrProgress]:
    """Read every embedded image that `model` has not read; one transaction per batch, so a stop loses at most
    the batch in flight and the next run goes on. A picture the reader refuses gets an empty text (it is not
    tried again until its file changes); one that cannot be decoded is left for the next index run to record."""
    todo = catalog.unread(model, clip_model, root)
    left: set[int] | None = None  # after a pause: what is still unread
    meter = Meter(len(todo), unit="texts")
    done = 0
    yield meter.at("reading", 0)
    if not todo:
        return
    load = picture(max_pixels)
    for batch in batches(todo, lambda item: load(item[1]), batch_size, workers=workers, cancel=cancel):
        if pause is not None and pause.is_set():
            meter.pause()
            yield meter.at("reading", done)
            if wait_out_pause(pause, cancel, lock):  # another job may have done some of the rest meanwhile
                left = {image_id for image_id, _ in catalog.unread(model, clip_model, root)}
            meter.resume()
        if cancel.is_set():
            return
        good = [one for one in batch if one.value is not None and (left is None or one.item[0] in left)]
        results = read([one.value for one in good if one.value is not None]).result() if good else []
        with catalog.transaction():
            for one, result in zip(good, results):
                if isinstance(result, ImageUnreadable):
                    catalog.set_text(one.item[0], model, "", [])
                else:
                    catalog.set_text(one.item[0], model, result.text, lines_json(result))
        done += len(batch)
        yield meter.at("reading", done)
