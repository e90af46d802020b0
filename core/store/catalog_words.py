"""The catalog's words about pictures: GIT captions and the text OCR read in them, kept and searched.

Its own module because the two are alike, and apart from the rest of the catalog (folders, files, vectors):
each caches what a model read from an image, keyed by (image, model), with its own full-text search and its
own list of what a background job has left to read. Mixed into Catalog, whose connection it uses.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from clipgit.core.models.fold import fold
from clipgit.core.names import from_db
from clipgit.core.store.filter_sql import TRIGRAM_MIN, at_or_under, filtered, has_fts

if TYPE_CHECKING:
    from clipgit.core.search.filters import Filters


class CatalogWords:
    """Captions and text read in pictures, for the Catalog this is mixed into."""

    conn: sqlite3.Connection
    _where_in: Callable[..., Iterator[tuple[Any, ...]]]

    def _not_yet(self, table: str, model: str, clip_model: str, root: str | None) -> list[tuple[int, str]]:
        """What a background job (captions, text reading) has left: embedded, readable images with no row of
        `model` in `table`, in path order. One query for both jobs, which differ only in their table."""
        sql = ("SELECT i.id, i.path FROM images i JOIN embeddings e ON e.image_id = i.id AND e.model = ? "
               f"LEFT JOIN {table} w ON w.image_id = i.id AND w.model = ? WHERE w.id IS NULL AND i.error IS NULL")
        args: list[object] = [clip_model, model]
        if root is not None:
            cond, more = at_or_under("i.path", root)
            sql, args = f"{sql} AND {cond}", args + more
        return [(r[0], from_db(r[1])) for r in self.conn.execute(sql + " ORDER BY i.path", args)]

    # captions ----------------------------------------------------------
    def set_caption(self, image_id: int, model: str, caption: str) -> None:
        self.conn.execute(
            "INSERT INTO captions (image_id, model, caption, created) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (image_id, model) DO UPDATE SET caption = excluded.caption, created = excluded.created",
            (image_id, model, caption, time.time()),
        )

    def captions_for(self, ids: list[int], model: str) -> dict[int, str]:
        sql = "SELECT image_id, caption FROM captions WHERE model = ? AND image_id IN ({ids})"
        return {r[0]: r[1] for r in self._where_in(sql, ids, model)}

    def uncaptioned(self, model: str, clip_model: str, root: str | None = None) -> list[tuple[int, str]]:
        """(id, path) of embedded images without a caption from `model`, in path order."""
        return self._not_yet("captions", model, clip_model, root)

    def caption_count(self, model: str) -> int:
        return int(self.conn.execute("SELECT count(*) FROM captions WHERE model = ?", (model,)).fetchone()[0])

    def search_captions(self, fts_query: str, model: str, limit: int,
                        filters: Filters | None = None) -> list[tuple[int, float]]:
        """(image id, bm25 rank; lower is better) for captions matching an FTS5 query."""
        sql = ("SELECT c.image_id, bm25(captions_fts) AS rank FROM captions_fts JOIN captions c "
               "ON c.id = captions_fts.rowid JOIN images i ON i.id = c.image_id "
               "WHERE captions_fts MATCH ? AND c.model = ?")
        args: list[object] = [fts_query, model]
        if filters is not None and filters.active:
            cond, more = filtered("i", filters)
            sql, args = f"{sql} AND {cond}", args + more
        sql += " ORDER BY rank LIMIT ?"
        args.append(limit)
        return [(r[0], r[1]) for r in self.conn.execute(sql, args)]

    # text read in pictures ---------------------------------------------------
    def set_text(self, image_id: int, model: str, text: str, lines: list[dict[str, object]]) -> None:
        self.conn.execute(
            "INSERT INTO ocr_texts (image_id, model, text, lines, folded, created) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (image_id, model) DO UPDATE SET text = excluded.text, lines = excluded.lines, "
            "folded = excluded.folded, created = excluded.created",
            (image_id, model, text, json.dumps(lines, ensure_ascii=False), fold(text), time.time()))

    def texts_for(self, ids: list[int], model: str) -> dict[int, tuple[str, list[dict[str, Any]]]]:
        """image id -> (text, lines as {"text", "box", "confidence"}) for images read by `model`."""
        sql = "SELECT image_id, text, lines FROM ocr_texts WHERE model = ? AND image_id IN ({ids})"
        return {r[0]: (r[1], json.loads(r[2])) for r in self._where_in(sql, ids, model)}

    def unread(self, model: str, clip_model: str, root: str | None = None) -> list[tuple[int, str]]:
        """(id, path) of embedded images whose text `model` has not read, in path order."""
        return self._not_yet("ocr_texts", model, clip_model, root)

    def text_count(self, model: str, with_text: bool = False) -> int:
        """Images `model` has read (with_text: only those where it found some)."""
        sql = "SELECT count(*) FROM ocr_texts WHERE model = ?" + (" AND text != ''" if with_text else "")
        return int(self.conn.execute(sql, (model,)).fetchone()[0])

    def search_text(self, words: list[str], model: str, limit: int,
                    filters: Filters | None = None) -> list[tuple[int, float]]:
        """(image id, rank; lower is better) of images whose text holds any of the (folded) words: the more of
        them, the better. Words of three characters or more go through the trigram index (bm25 ranks); without
        it, the count of words found."""
        words = [w for w in dict.fromkeys(words) if len(w) >= TRIGRAM_MIN]
        if not words:
            return []
        extra, more = "", list[object]()
        if filters is not None and filters.active:
            extra, more = filtered("i", filters)
            extra = f" AND {extra}"
        if has_fts(self.conn):
            match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
            sql = ("SELECT o.image_id, bm25(ocr_fts) AS rank FROM ocr_fts JOIN ocr_texts o "
                   "ON o.id = ocr_fts.rowid JOIN images i ON i.id = o.image_id "
                   f"WHERE ocr_fts MATCH ? AND o.model = ?{extra} ORDER BY rank LIMIT ?")
            return [(r[0], r[1]) for r in self.conn.execute(sql, [match, model, *more, limit])]
        found = " + ".join("(instr(o.folded, ?) > 0)" for _ in words)
        sql = (f"SELECT o.image_id, -({found}) AS rank FROM ocr_texts o JOIN images i ON i.id = o.image_id "
               f"WHERE o.model = ? AND rank < 0{extra} ORDER BY rank LIMIT ?")
        return [(r[0], r[1]) for r in self.conn.execute(sql, [*words, model, *more, limit])]
