"""Search: query vectors, exact top-k, caption matches, and hybrid fusion.

Kept apart from engine.py so the engine stays the small facade both faces
call; everything here runs on the caller's thread except encoding, which
goes to the inference thread at interactive priority.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from clipgit.core.config import Settings
from clipgit.core.decode.image import load as load_image
from clipgit.core.decode.photo_facts import capture_time, iso_time
from clipgit.core.errors import ImageUnreadable, QueryError
from clipgit.core.inference import INTERACTIVE, InferenceThread
from clipgit.core.ingest.ocr_jobs import OCR_MODEL
from clipgit.core.models.clip import ClipEncoder
from clipgit.core.names import absolute, display_name
from clipgit.core.search.caption_ranking import MODES, fts_query, fuse, text_words
from clipgit.core.search.filters import SORTS, Filters, split_filters
from clipgit.core.search.query import Term, parse
from clipgit.core.store.ann_keeper import AnnKeeper
from clipgit.core.store.catalog import Catalog, ImageRow
from clipgit.core.store.vectors import VectorIndex, from_blob

CANDIDATES = 200  # per ranking, before fusion


@dataclass(frozen=True)
class SearchResult:
    """`score` orders the results: the cosine in clip mode, the fused or caption score otherwise."""

    image_id: int
    path: str
    score: float
    width: int | None
    height: int | None
    size: int
    mtime_ns: int
    caption: str | None = None
    clip_score: float | None = None
    caption_score: float | None = None
    mode: str = "clip"  # clip | caption | hybrid | browse (filters alone: no score)
    taken: float | None = None  # capture date, seconds since the epoch
    taken_from: str | None = None  # exif | exif-local | mtime (see photo_facts)
    camera: str | None = None
    model: str = ""  # the CLIP model whose vectors answered (during a switch, the previous one)
    taken_offset: int | None = None  # minutes east of UTC of the clock at capture (see photo_facts)
    text: str | None = None  # the text read in the picture (None: not read, or none found)
    text_score: float | None = None  # hybrid: the recognised text's -BM25, None when it did not match
    # where it was taken: {"city", "region", "country", "country_code", "lat", "lon", "locality"}, None without GPS
    place: dict[str, object] | None = None

    def taken_clock(self) -> datetime | None:
        """The capture time on the clock where the photo was taken, what a person is shown."""
        return None if self.taken is None else capture_time(self.taken, self.taken_offset)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path, "score": round(self.score, 6), "width": self.width,
                                  "height": self.height, "size": self.size, "mode": self.mode,
                                  "taken": iso_time(self.taken, self.taken_offset, self.taken_from),
                                  "camera": self.camera, "model": self.model, "text": self.text,
                                  "place": None if self.place is None else {
                                      k: self.place.get(k) for k in ("city", "region", "country", "country_code",
                                                                     "lat", "lon")}}
        if self.mode != "clip" or self.caption is not None:
            out["caption"] = self.caption
            out["clip_score"] = None if self.clip_score is None else round(self.clip_score, 6)
            out["caption_score"] = None if self.caption_score is None else round(self.caption_score, 6)
        if self.mode == "hybrid":  # why a result with a low cosine and no caption match ranks: its text matched
            out["text_score"] = None if self.text_score is None else round(self.text_score, 6)
        return out




class Searcher:
    def __init__(self, settings: Settings, clip: ClipEncoder, infer: InferenceThread, vectors: VectorIndex,
                 catalog: Callable[[], Catalog], keeper: AnnKeeper | None = None) -> None:
        self.settings, self.clip, self.infer, self.vectors, self.catalog = settings, clip, infer, vectors, catalog
        self.keeper = keeper  # the approximate index past the crossover (None: always exact)

    # entry points ------------------------------------------------------------------
    def search(self, query: str, top: int, folder: str | None, mode: str, sort: str = "score",
               exact: bool = False) -> list[SearchResult]:
        if mode not in MODES:
            raise QueryError(f"search mode must be one of {', '.join(MODES)}, not {mode!r}")
        if sort not in SORTS:
            raise QueryError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        words, scope = split_filters(query)
        scope = scope.within(folder)
        if not words.strip() and scope.active:  # filters alone: the matching images, newest first
            found = self._browse(scope, top)
            return found if sort == "date" else sorted_by(found, sort)
        terms = parse(words)
        if mode == "auto":
            has_text = any(t.kind == "text" and t.weight > 0 for t in terms)
            cat = self.catalog()
            # captions fuse in once (nearly) every image has one: while they are still being written, an image
            # not yet captioned lost to unrelated ones whose caption shared a word ('a red' for a red circle)
            images = cat.vector_stats(self.settings.clip_model)[0]
            captioned = cat.caption_count(self.settings.caption_model) >= CAPTIONED_ENOUGH * images > 0
            said = captioned or cat.text_count(OCR_MODEL, with_text=True)
            mode = "hybrid" if has_text and said else "clip"
        if mode == "caption":
            return sorted_by(self._caption_only(terms, top, scope), sort)
        vector, exclude = self.query_vector(terms)
        if mode == "clip":
            return sorted_by(self._top(vector, top, scope, exclude, exact), sort)
        return sorted_by(self._hybrid(terms, vector, exclude, top, scope, exact), sort)

    def similar(self, path: str, top: int, folder: str | None) -> list[SearchResult]:
        full = absolute(path)
        if not os.path.isfile(full) and self.catalog().image_by_path(full) is None:
            raise QueryError(f"{'a folder, not an image' if os.path.isdir(full) else 'image file not found'}: {path}")
        vector, exclude = self.query_vector([Term("image", full, 1.0)])
        return self.top(vector, top, folder, exclude)

    def _browse(self, scope: Filters, top: int) -> list[SearchResult]:
        ids = self.catalog().browse(scope, self.settings.clip_model, top)
        return self._results([(i, 0.0, None, None) for i in ids], "browse")

    # CLIP ---------------------------------------------------------------------------
    def query_vector(self, terms: list[Term]) -> tuple[np.ndarray, set[int]]:
        cat = self.catalog()
        exclude: set[int] = set()
        texts = [t for t in terms if t.kind == "text"]
        total = None
        if texts:
            words = [t.value.replace('"', "") for t in texts]  # quotes mark phrases for caption search only
            encoded = self.infer.call(self.clip.encode_texts, words, priority=INTERACTIVE)
            total = sum(t.weight * v for t, v in zip(texts, encoded))
        for term in terms:
            if term.kind == "image":
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
            stored = stored_vector(cat, row, path, self.settings.clip_model)
            if stored is not None:
                return stored
        preprocess = self.infer.call(self.clip.load)
        try:
            loaded = load_image(path, draft_size=preprocess.draft_size, max_pixels=self.settings.max_image_pixels)
        except ImageUnreadable as exc:  # which of the query's images: a query can name several
            raise ImageUnreadable(f"{display_name(path)}: {exc}") from None
        vectors = self.infer.call(self.clip.encode_pixels, preprocess(loaded.image)[None], priority=INTERACTIVE)
        return np.asarray(vectors[0])

    def _ranked(self, vector: np.ndarray, top: int, scope: Filters, exclude: set[int],
                exact: bool = False) -> list[tuple[int, float]]:
        """(id, exact cosine) best first: fp16 finds the candidates (an exact scan, or past the crossover the
        approximate index, unless `exact`), float32 from the catalog orders them. The filters narrow the
        candidates first, so the best matches inside them come back."""
        cat = self.catalog()
        self.vectors.refresh(cat)
        allow = None
        if scope.active:
            allow = np.asarray(cat.filtered_ids(scope, self.settings.clip_model), dtype=np.int64)
        if self.keeper is None:
            candidates = self.vectors.top_k(vector, top + 16, allow=allow, exclude=exclude)
        else:
            candidates = self.keeper.top_k(vector, top + 16, allow=allow, exclude=exclude, exact=exact)
        stored = cat.embeddings_for([i for i, _ in candidates], self.settings.clip_model)
        hits = [(i, float(from_blob(stored[i]) @ vector)) for i, _ in candidates if i in stored]
        return sorted(hits, key=lambda h: -h[1])[:top]

    def top(self, vector: np.ndarray, top: int, folder: str | None, exclude: set[int],
            exact: bool = False) -> list[SearchResult]:
        return self._top(vector, top, Filters().within(folder), exclude, exact)

    def _top(self, vector: np.ndarray, top: int, scope: Filters, exclude: set[int],
             exact: bool = False) -> list[SearchResult]:
        hits = self._ranked(vector, top, scope, exclude, exact)
        return self._results([(i, s, s, None) for i, s in hits], "clip", with_captions=False)

    # captions -------------------------------------------------------------------------
    def _caption_hits(self, terms: list[Term], limit: int, scope: Filters) -> list[tuple[int, float]]:
        """(id, caption score) best first; the score is -BM25, higher is better."""
        rows = self.catalog().search_captions(fts_query(terms), self.settings.caption_model, limit, scope)
        return [(i, -rank) for i, rank in rows]

    def _caption_only(self, terms: list[Term], top: int, scope: Filters) -> list[SearchResult]:
        hits = self._caption_hits(terms, top, scope)
        return self._results([(i, s, None, s) for i, s in hits], "caption")

    def _hybrid(self, terms: list[Term], vector: np.ndarray, exclude: set[int], top: int,
                scope: Filters, exact: bool = False) -> list[SearchResult]:
        limit = max(CANDIDATES, top)
        clip_hits = self._ranked(vector, limit, scope, exclude, exact)
        caption_hits = [h for h in self._caption_hits(terms, limit, scope) if h[0] not in exclude]
        text_hits = [(i, -rank) for i, rank in self.catalog().search_text(text_words(terms), OCR_MODEL, limit, scope)
                     if i not in exclude]
        fused = fuse([i for i, _ in clip_hits], [i for i, _ in caption_hits], [i for i, _ in text_hits])[:top]
        cosines = dict(clip_hits)
        missing = [i for i, _ in fused if i not in cosines]
        stored = self.catalog().embeddings_for(missing, self.settings.clip_model)
        cosines.update({i: float(from_blob(v) @ vector) for i, v in stored.items()})
        caption_scores, text_scores = dict(caption_hits), dict(text_hits)
        return self._results([(i, s, cosines.get(i), caption_scores.get(i)) for i, s in fused], "hybrid",
                             text_scores=text_scores)

    def _results(self, hits: list[tuple[int, float, float | None, float | None]], mode: str,
                 with_captions: bool = True, text_scores: dict[int, float] | None = None) -> list[SearchResult]:
        cat = self.catalog()
        ids = [h[0] for h in hits]
        rows = cat.images_by_ids(ids)
        captions = cat.captions_for(ids, self.settings.caption_model) if with_captions else {}
        texts = cat.texts_for(ids, OCR_MODEL)
        scores = text_scores or {}
        return [
            SearchResult(i, rows[i].path, score, rows[i].width, rows[i].height, rows[i].size, rows[i].mtime_ns,
                         captions.get(i), clip_score, caption_score, mode, rows[i].taken, rows[i].taken_from,
                         rows[i].camera, self.settings.clip_model, rows[i].taken_offset,
                         (texts[i][0] or None) if i in texts else None, scores.get(i), _place(rows[i]))
            for i, score, clip_score, caption_score in hits if i in rows
        ]


def _place(row: ImageRow) -> dict[str, object] | None:
    place = row.place
    if place is None:
        return None
    return {"city": place.city, "region": place.region, "country": place.country,
            "country_code": place.country_code, "lat": place.lat, "lon": place.lon, "locality": place.locality}


CAPTIONED_ENOUGH = 0.9  # auto mode goes hybrid once this share of the library has captions


def sorted_by(results: list[SearchResult], sort: str) -> list[SearchResult]:
    """The top results in another order: by capture date (newest first) or by file name."""
    if sort == "date":
        return sorted(results, key=lambda r: -(r.taken if r.taken is not None else r.mtime_ns / 1e9))
    if sort == "name":
        return sorted(results, key=lambda r: (natural_key(os.path.basename(r.path)), r.path))
    return results


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """A file name's order as a person reads it: `big_2` before `big_10`, any case."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name.casefold())
                 if part)


def stored_vector(cat: Catalog, row: ImageRow, path: str, model: str) -> np.ndarray | None:
    """The library's vector of `path` while its file is unchanged (or gone); None: the image needs the model."""
    stored = cat.embedding(row.id, model)
    return from_blob(stored) if stored is not None and _same_file(row, path) else None


def _same_file(row: ImageRow, path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return True  # the stored vector is all we have
    return st.st_size == row.size and st.st_mtime_ns == row.mtime_ns
