"""Committing an index run's batch: what each file came to, and the one transaction that writes a batch of them.

Its own module because the writing is the run's one step that touches the catalog's rows for files (new rows,
vectors, facts, places, moves and touches, and the report's counts), and it needs nothing of the run's
reading and decoding; indexer.py hands it the sorted results and keeps the walk and the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from clipgit.core.decode.jpeg_header import RawJpeg
from clipgit.core.decode.photo_facts import PhotoFacts
from clipgit.core.models.places import Place, places_of
from clipgit.core.scan import FileStat
from clipgit.core.store.batch_writes import NewImage
from clipgit.core.store.catalog import Catalog, ImageRow
from clipgit.core.store.vectors import as_blob

if TYPE_CHECKING:
    from clipgit.core.ingest.indexer import IndexReport

Encoded = tuple[np.ndarray, list["str | None"]]  # vectors, and per image None or why it could not be decoded


@dataclass
class FileItem:
    stat: FileStat
    folder_id: int
    row: ImageRow | None
    embedded: bool


@dataclass
class FileResult:
    kind: str  # "embed" | "touch" | "move" | "skip"
    item: FileItem
    fingerprint: bytes | None = None
    width: int | None = None
    height: int | None = None
    pixels: np.ndarray | RawJpeg | None = None  # RawJpeg: decoded by the model's device (nvJPEG)
    moved_from: ImageRow | None = None
    reason: str = ""
    facts: PhotoFacts | None = None


def commit_batch(cat: Catalog, model: str, batch: list[FileResult], encoded: Encoded | None,
                 writes: list[FileResult], report: IndexReport) -> None:
    """A batch's files (`batch` embedded, `writes` touched, moved or skipped) in one transaction: `kill -9`
    then loses at most the batch in flight, and a rerun resumes."""
    vectors, errors = encoded if encoded is not None else (None, [])
    for r, error in zip(batch, errors):
        if error is not None:  # a JPEG that neither the GPU nor Pillow could decode
            writes.append(FileResult("skip", r.item, reason=error))
    if any(errors):
        keep = [i for i, error in enumerate(errors) if error is None]
        batch, vectors = [batch[i] for i in keep], vectors[keep] if vectors is not None else None
    places = _places([*writes, *batch])
    with cat.transaction():
        for r in writes:
            st = r.item.stat
            if r.kind == "touch":
                assert r.item.row is not None
                cat.touch_image(r.item.row.id, st.size, st.mtime_ns)
                if r.facts is not None:
                    cat.set_facts(r.item.row.id, r.facts, places.get(st.path))
                report.unchanged += 1
            elif r.kind == "move":
                assert r.moved_from is not None
                cat.move_image(r.moved_from.id, r.item.folder_id, st.path, st.size, st.mtime_ns)
                if r.facts is not None:
                    cat.set_facts(r.moved_from.id, r.facts, places.get(st.path))
                report.moved += 1
            elif r.kind == "skip":
                cat.upsert_image(r.item.folder_id, st.path, st.size, st.mtime_ns, None, None, None, r.reason)
                report.skipped.append((st.path, r.reason))
        fresh: list[tuple[FileResult, np.ndarray]] = []  # files the catalog has never seen: one batched write
        known: list[tuple[FileResult, np.ndarray]] = []
        for r, vector in zip(batch, vectors if vectors is not None else []):
            (fresh if r.item.row is None and r.moved_from is None else known).append((r, vector))
        cat.add_new_images([NewImage(r.item.folder_id, r.item.stat.path, r.item.stat.size, r.item.stat.mtime_ns,
                                     r.fingerprint, r.width, r.height, as_blob(vector), r.facts)
                            for r, vector in fresh], model)
        cat.set_places_by_path([(r.item.stat.path, places[r.item.stat.path]) for r, _ in fresh
                                if r.item.stat.path in places])
        report.new += len(fresh)
        report.embedded += len(fresh)
        for r, vector in known:
            st = r.item.stat
            if r.moved_from is not None:
                cat.move_image(r.moved_from.id, r.item.folder_id, st.path, st.size, st.mtime_ns)
            image_id = cat.upsert_image(r.item.folder_id, st.path, st.size, st.mtime_ns, r.fingerprint,
                                        r.width, r.height, None)
            cat.add_embedding(image_id, model, as_blob(vector))
            if r.facts is not None:
                cat.set_facts(image_id, r.facts, places.get(st.path))
            report.embedded += 1
            row = r.item.row
            if r.moved_from is not None or row is None:  # (no row and not moved: a fresh one, above)
                report.moved += 1
            elif row.fingerprint == r.fingerprint and row.error is None:
                report.unchanged += 1
            else:
                report.changed += 1


def _places(results: list[FileResult]) -> dict[str, Place]:
    """path -> place for the batch's photos with a GPS position, looked up at once (places_of: a k-d tree
    answers them together). A lookup that fails (the GeoNames data missing) leaves them without one."""
    located = [(r.item.stat.path, (r.facts.lat, r.facts.lon)) for r in results
               if r.facts is not None and r.facts.lat is not None and r.facts.lon is not None]
    if not located:
        return {}
    try:
        found = places_of([point for _, point in located])
    except Exception:  # ModelUnavailable or hostile values: indexing goes on, the place stays empty
        return {}
    return {path: place for (path, _), place in zip(located, found) if place is not None}
