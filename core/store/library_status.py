"""What the library holds, folder by folder: the figures `status` and the app's library pane show."""

from __future__ import annotations

import os
from dataclasses import dataclass

from clipgit.core.decode.photo_facts import iso_time
from clipgit.core.names import within
from clipgit.core.scan import is_empty_folder
from clipgit.core.store.catalog import Catalog


@dataclass(frozen=True)
class FolderInfo:
    id: int
    path: str
    images: int
    skipped: int
    last_scan: float | None
    exists: bool
    unembedded: int = 0  # readable files with no vector of the current model (another model indexed them)
    forgotten: tuple[str, ...] = ()  # paths inside it that its rescans leave out (forgetting.py)
    empty: bool = False  # there, with nothing in it, though it has images: a drive or share not mounted?


@dataclass(frozen=True)
class Status:
    data_dir: str
    clip_model: str
    device: str
    precision: str
    model_loaded: bool
    images: int
    files: int
    skipped: int
    folders: list[FolderInfo]
    caption_model: str = ""
    captions: int = 0
    ocr_model: str = ""
    texts_read: int = 0  # images the OCR model has read
    with_text: int = 0  # ... and found text in
    places: int = 0  # photos with a place (from EXIF GPS)
    vector_index: dict[str, object] | None = None  # which kind answers (store/ann_keeper.VectorIndexFacts)

    def as_dict(self) -> dict[str, object]:
        return {
            "data_dir": self.data_dir, "clip_model": self.clip_model, "device": self.device,
            "precision": self.precision, "model_loaded": self.model_loaded, "images": self.images,
            "files": self.files, "skipped": self.skipped, "caption_model": self.caption_model,
            "captions": self.captions, "ocr_model": self.ocr_model, "texts_read": self.texts_read,
            "with_text": self.with_text, "places": self.places, "vector_index": self.vector_index,
            "folders": [{"path": f.path, "images": f.images, "skipped": f.skipped, "last_scan": iso_time(f.last_scan),
                         "exists": f.exists, "empty": f.empty, "forgotten": list(f.forgotten)} for f in self.folders],
        }


def folder_infos(cat: Catalog, model: str) -> list[FolderInfo]:
    counts = cat.folder_counts(model)
    excluded = cat.excluded()
    out = []
    for f in cat.folders():
        images, skipped, unembedded = counts.get(f.id, (0, 0, 0))
        exists = os.path.isdir(f.path)
        out.append(FolderInfo(f.id, f.path, images, skipped, f.last_scan, exists, unembedded,
                              tuple(p for p in excluded if within(p, f.path)),
                              exists and bool(images) and is_empty_folder(f.path)))
    return out
