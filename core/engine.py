"""Engine: the one API both faces use (the Textual app and the command line).

It owns the inference thread and hands each calling thread its own catalog
connection. Long work (index) is a generator of progress events taking a
cancel event, so a face can loop over it in a worker and post messages;
everything raises typed errors from errors.py and never prints.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from typing import Callable, Iterable, Iterator

import numpy as np

from .catalog import Catalog, ImageRow
from .clip import ClipEncoder
from .config import Settings
from .errors import ClipgitError, NotInLibrary, QueryError
from .images import load as load_image
from .indexer import IndexProgress, IndexReport, IndexRun, default_workers
from .inference import BATCH, INTERACTIVE, InferenceThread
from .query import Term, parse
from .vectors import VectorIndex, from_blob


@dataclass(frozen=True)
class SearchResult:
    image_id: int
    path: str
    score: float
    width: int | None
    height: int | None
    size: int
    mtime_ns: int

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "score": round(self.score, 6), "width": self.width, "height": self.height,
                "size": self.size}


@dataclass(frozen=True)
class FolderInfo:
    id: int
    path: str
    images: int
    skipped: int
    last_scan: float | None
    exists: bool


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

    def as_dict(self) -> dict[str, object]:
        return {
            "data_dir": self.data_dir, "clip_model": self.clip_model, "device": self.device,
            "precision": self.precision, "model_loaded": self.model_loaded, "images": self.images,
            "files": self.files, "skipped": self.skipped,
            "folders": [{"path": f.path, "images": f.images, "skipped": f.skipped, "last_scan": f.last_scan,
                         "exists": f.exists} for f in self.folders],
        }


class Engine:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.load()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.clip = ClipEncoder(self.settings.clip_model, self.settings.device, self.settings.precision)
        self._infer = InferenceThread()
        self._local = threading.local()
        self._connections: list[tuple[threading.Thread, Catalog]] = []
        self._conn_lock = threading.Lock()
        self._vectors = VectorIndex(self.settings.clip_model, self.settings.data_dir)
        self.catalog()  # create and migrate the database now: errors surface at once

    # plumbing -------------------------------------------------------------
    def catalog(self) -> Catalog:
        """This thread's connection (sqlite3 connections are not shared across threads)."""
        cat = getattr(self._local, "catalog", None)
        if cat is None:
            cat = Catalog(self.settings.db_path)
            self._local.catalog = cat
            with self._conn_lock:
                # faces run each job on a fresh thread: close what finished threads left behind
                alive = []
                for thread, old in self._connections:
                    if thread.is_alive():
                        alive.append((thread, old))
                    else:
                        old.close()
                self._connections = alive + [(threading.current_thread(), cat)]
        return cat

    def close(self) -> None:
        self._infer.close()
        with self._conn_lock:
            for _, cat in self._connections:
                try:
                    cat.close()
                except Exception:  # a connection of a thread that is gone
                    pass
            self._connections.clear()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load_model(self) -> None:
        """Load CLIP now (on the inference thread); raises ModelUnavailable."""
        self._infer.call(self.clip.load)

    # indexing -------------------------------------------------------------
    def index_iter(self, paths: Iterable[str], cancel: threading.Event | None = None) -> Iterator[IndexProgress]:
        """Index folders; yields progress, the last event has phase "done" and the report."""
        roots = [_folder_arg(p) for p in paths]
        if not roots:
            raise ClipgitError("no folder given to index")
        workers = self.settings.decode_workers or default_workers()
        run = IndexRun(
            self.catalog(), self.settings.clip_model,
            encode=lambda pixels: self._infer.submit(self.clip.encode_pixels, pixels, priority=BATCH),
            preprocess=lambda: self._infer.call(self.clip.load),
            batch_size=self.settings.batch_size, workers=workers, max_pixels=self.settings.max_image_pixels,
            include_hidden=self.settings.include_hidden, exclude_dirs=self.settings.exclude_dirs,
        )
        try:
            yield from run.run(roots, cancel or threading.Event())
        finally:
            self._vectors.refresh(self.catalog())
            self._vectors.save_if_changed()

    def index(self, paths: Iterable[str], progress: Callable[[IndexProgress], None] | None = None,
              cancel: threading.Event | None = None) -> IndexReport:
        report = IndexReport()
        for event in self.index_iter(paths, cancel):
            report = event.report
            if progress is not None:
                progress(event)
        return report

    def rescan_all(self, progress: Callable[[IndexProgress], None] | None = None,
                   cancel: threading.Event | None = None) -> IndexReport:
        folders = [f.path for f in self.catalog().folders() if os.path.isdir(f.path)]
        return self.index(folders, progress, cancel) if folders else IndexReport()

    def forget(self, path: str) -> int:
        """Drop a library folder (or everything under a sub-folder); returns files dropped."""
        target = os.path.abspath(os.path.expanduser(path)).rstrip("/") or "/"
        cat = self.catalog()
        with cat.transaction():
            dropped = cat.ids_under(target)
            folders = [f for f in cat.folders() if f.path == target or f.path.startswith(target + "/")]
            if not dropped and not folders:
                raise NotInLibrary(f"{target} is not in the library")
            cat.delete_images(dropped)
            for f in folders:
                cat.remove_folder(f.id)
        self._vectors.refresh(cat)
        return len(dropped)

    # searching ------------------------------------------------------------
    def search(self, query: str, top: int = 10, folder: str | None = None) -> list[SearchResult]:
        """Text and image terms combined (see query.py); query images leave their own results."""
        terms = parse(query)
        vector, exclude = self._query_vector(terms)
        return self._top(vector, top, folder, exclude)

    def similar(self, path: str, top: int = 10, folder: str | None = None) -> list[SearchResult]:
        full = os.path.abspath(os.path.expanduser(path))
        if not os.path.isfile(full) and self.catalog().image_by_path(full) is None:
            raise QueryError(f"image file not found: {path}")
        vector, exclude = self._query_vector([Term("image", full, 1.0)])
        return self._top(vector, top, folder, exclude)

    def search_vector(self, vector: np.ndarray, top: int = 10, folder: str | None = None,
                      exclude: Iterable[int] = ()) -> list[SearchResult]:
        """Top results for a ready query vector (of this model's dimension)."""
        vec = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(vec))
        if vec.ndim != 1 or norm < 1e-9:
            raise QueryError("the query vector must be one non-zero vector")
        return self._top(vec / norm, top, folder, set(exclude))

    def _query_vector(self, terms: list[Term]) -> tuple[np.ndarray, set[int]]:
        cat = self.catalog()
        exclude: set[int] = set()
        texts = [t for t in terms if t.kind == "text"]
        total = None
        if texts:
            encoded = self._infer.call(self.clip.encode_texts, [t.value for t in texts], priority=INTERACTIVE)
            total = sum(t.weight * v for t, v in zip(texts, encoded))
        for term in terms:
            if term.kind != "image":
                continue
            vec = self._image_vector(cat, term.value, exclude)
            total = term.weight * vec if total is None else total + term.weight * vec
        assert total is not None
        norm = float(np.linalg.norm(total))
        if norm < 1e-9:
            raise QueryError("the query's terms cancel each other out")
        return (total / norm).astype(np.float32), exclude

    def _image_vector(self, cat: Catalog, path: str, exclude: set[int]) -> np.ndarray:
        row = cat.image_by_path(path)
        if row is not None:
            exclude.add(row.id)
            stored = cat.embedding(row.id, self.settings.clip_model)
            if stored is not None and _same_file(row, path):
                return from_blob(stored)
        preprocess = self._infer.call(self.clip.load)
        loaded = load_image(path, draft_size=preprocess.draft_size, max_pixels=self.settings.max_image_pixels)
        pixels = preprocess(loaded.image)[None]
        return self._infer.call(self.clip.encode_pixels, pixels, priority=INTERACTIVE)[0]

    def _top(self, vector: np.ndarray, top: int, folder: str | None, exclude: set[int]) -> list[SearchResult]:
        cat = self.catalog()
        self._vectors.refresh(cat)
        allow = None
        if folder is not None:
            root = os.path.abspath(os.path.expanduser(folder))
            allow = np.asarray(cat.ids_under(root), dtype=np.int64)
        # fp16 finds the candidates; exact float32 scores from the catalog order them
        candidates = self._vectors.top_k(vector, top + 16, allow=allow, exclude=exclude)
        stored = cat.embeddings_for([i for i, _ in candidates], self.settings.clip_model)
        hits = sorted(((i, float(from_blob(stored[i]) @ vector)) for i, _ in candidates if i in stored),
                      key=lambda h: -h[1])[:top]
        rows = cat.images_by_ids(i for i, _ in hits)
        return [
            SearchResult(i, rows[i].path, s, rows[i].width, rows[i].height, rows[i].size, rows[i].mtime_ns)
            for i, s in hits if i in rows
        ]

    # state ------------------------------------------------------------------
    def folders(self) -> list[FolderInfo]:
        cat = self.catalog()
        counts = cat.folder_counts(self.settings.clip_model)
        return [
            FolderInfo(f.id, f.path, *counts.get(f.id, (0, 0)), f.last_scan, os.path.isdir(f.path))
            for f in cat.folders()
        ]

    def skipped(self, folder: str) -> list[tuple[str, str]]:
        return self.catalog().skipped_under(folder)

    def image(self, path: str) -> ImageRow | None:
        return self.catalog().image_by_path(os.path.abspath(path))

    def status(self) -> Status:
        counts = self.catalog().counts(self.settings.clip_model)
        return Status(
            data_dir=str(self.settings.data_dir), clip_model=self.settings.clip_model,
            device=self.clip.device if self.clip.loaded else self.settings.device,
            precision=self.clip.precision if self.clip.loaded else self.settings.precision,
            model_loaded=self.clip.loaded, images=counts["images"], files=counts["files"],
            skipped=counts["skipped"], folders=self.folders(),
        )


def _folder_arg(path: str) -> str:
    full = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(full):
        raise ClipgitError(f"folder not found: {path}")
    if not os.path.isdir(full):
        raise ClipgitError(f"not a folder: {path}")
    return full.rstrip("/") or "/"


def _same_file(row: ImageRow, path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return True  # the stored vector is all we have
    return st.st_size == row.size and st.st_mtime_ns == row.mtime_ns


__all__ = ["Engine", "FolderInfo", "SearchResult", "Status", "IndexReport", "IndexProgress"]
