"""The SQL for a query's filters (dates, camera, folder, extension, text read in the picture, place, GPS) on
the images table, and the SQL functions the catalog's connection adds for them."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from clipgit.core.models.fold import fold
from clipgit.core.models.places import Place, place_matches
from clipgit.core.names import to_db
from clipgit.core.search.filters import date_conditions

if TYPE_CHECKING:
    from clipgit.core.search.filters import Filters

# trigram FTS5 needs three characters; a shorter `text:` word scans the folded text
TRIGRAM_MIN = 3


def under(column: str, root: str) -> tuple[str, list[object]]:
    """SQL condition and its arguments: `column` (a path) lies inside folder `root`."""
    prefix = to_db(root.rstrip("/") + "/")
    return f"substr({column}, 1, ?) = ?", [len(prefix), prefix]


def at_or_under(column: str, root: str) -> tuple[str, list[object]]:
    """As `under`, and also `root` itself: a job asked for one file (`index FILE --ocr`) must find that file."""
    cond, args = under(column, root)
    return f"({column} = ? OR {cond})", [to_db(root.rstrip("/")), *args]


def filtered(alias: str, filters: Filters) -> tuple[str, list[object]]:
    """SQL condition and its arguments for the filters, on the images table under `alias`."""
    conds, args = date_conditions(alias, filters)
    if filters.camera:
        conds.append(f"lower({alias}.camera) LIKE ?")
        args.append(f"%{filters.camera}%")
    if filters.folder:
        cond, more = under(f"{alias}.path", filters.folder)
        conds.append(cond)
        args += more
    if filters.ext:
        conds.append("(" + " OR ".join(f"lower(CAST({alias}.path AS TEXT)) LIKE ?" for _ in filters.ext) + ")")
        args += [f"%.{e}" for e in filters.ext]
    for words in filters.text:  # each must occur in the image's text (any OCR model's), folded
        cond, more = text_condition(alias, fold(words))
        conds.append(cond)
        args += more
    for name in filters.place:
        conds.append(f"{alias}.place_cc IS NOT NULL AND place_match({alias}.place_city, {alias}.place_locality, "
                     f"{alias}.place_region, {alias}.place_country, {alias}.place_cc, ?)")
        args.append(name)
    if filters.gps is not None:
        conds.append(f"coalesce({alias}.gps, 0) = ?")
        args.append(int(filters.gps))
    if filters.country:
        conds.append(f"{alias}.place_cc IS NOT NULL AND place_match({alias}.place_city, {alias}.place_locality, "
                     f"{alias}.place_region, {alias}.place_country, {alias}.place_cc, ?)")
        args.append("country:" + filters.country)
    return " AND ".join(conds), args


def has_fts(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'ocr_fts'").fetchone() is not None


def text_condition(alias: str, folded: str) -> tuple[str, list[object]]:
    """The image's recognised text holds `folded` (a substring: a word inside a longer token matches). The
    trigram index answers words of three characters or more; the condition on the folded text then only checks
    its candidates (and answers shorter words, and SQLite without trigrams, alone)."""
    scan = f"EXISTS (SELECT 1 FROM ocr_texts o WHERE o.image_id = {alias}.id AND instr(o.folded, ?) > 0)"
    if len(folded) >= TRIGRAM_MIN and TRIGRAM_OK:
        return (f"{alias}.id IN (SELECT o.image_id FROM ocr_fts JOIN ocr_texts o ON o.id = ocr_fts.rowid "
                f"WHERE ocr_fts MATCH ?) AND {scan}"), ['"' + folded.replace('"', '""') + '"', folded]
    return scan, [folded]


TRIGRAM_OK = sqlite3.sqlite_version_info >= (3, 34, 0)


def place_match(city: str | None, locality: str | None, region: str | None, country: str | None,
                 cc: str | None, query: str) -> bool:
    """SQL function `place_match`: models.places.place_matches over a row's place columns (its rules, in one
    place: whole words of a name, any case, accents ignored; `country:` by code, name or short name)."""
    place = Place(city or "", region or "", country or "", cc or "", 0.0, 0.0, locality or "")
    return place_matches(place, query)
