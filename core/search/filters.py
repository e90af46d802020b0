"""Filters in a query (`after:2024-06-01 year:2023 camera:pixel in:~/Pictures/trip ext:png text:receipt
place:lisbon country:pt`) and as flags.

Why in the query string: the app's one search box and the command line's
`search` take the same text, and a script can pass filters the same way.
Filters narrow the library before the top-k, so a filtered search returns
the best matches inside the filter, not a filtered top-10; with no other
words they list the matching images by date (browse mode).
"""

from __future__ import annotations

import calendar
import os
import re
import time
from dataclasses import dataclass, replace

from clipgit.core.errors import QueryError

NAMES = ("after", "before", "year", "camera", "in", "ext", "text", "place", "country", "gps")
_TOKEN = re.compile(r'(?:(?<=\s)|^)(' + "|".join(NAMES) + r'):("[^"]*"|\S+)', re.IGNORECASE)
_WORD_COLON = re.compile(r'(?:(?<=\s)|^)([A-Za-z]+):(?=\s|$|[^/\\])(\S*)')
SINGLE = ("after", "before", "year", "camera", "in", "country", "gps")  # given twice: the last one counts
SORTS = ("score", "date", "name")


@dataclass(frozen=True)
class Filters:
    # taken at or after / before, on the clock where the photo was taken: that clock's seconds since
    # 1970-01-01 00:00, as if it were UTC (a day is the same day wherever the library is searched from)
    after: float | None = None
    before: float | None = None
    camera: str | None = None  # a part of "make model", any case
    folder: str | None = None  # an absolute folder
    ext: tuple[str, ...] = ()  # lower-case extensions, without the dot
    text: tuple[str, ...] = ()  # each found in the text read in the picture (any case, accents ignored, substring)
    place: tuple[str, ...] = ()  # each names the photo's city, locality, region or country (places.place_matches)
    country: str | None = None  # a country's code or name
    gps: bool | None = None  # the photo knows where it was taken (gps:yes) or not (gps:no)

    @property
    def active(self) -> bool:
        return self != Filters()

    def within(self, folder: str | None) -> Filters:
        """These filters, also inside `folder` (the --in flag), unless the query named a folder itself."""
        if folder is None or self.folder is not None:
            return self
        return replace(self, folder=_folder(folder))


def split_filters(query: str) -> tuple[str, Filters]:
    """The query's words and terms without its filters, and the filters; raises QueryError on a bad value."""
    found = Filters()
    for match in _TOKEN.finditer(query):
        name, value = match.group(1).lower(), match.group(2).strip('"')
        if not value:
            raise QueryError(f"{name}: needs a value")
        if name == "after":
            start = _span(value, name)[0]
            found = replace(found, after=start if found.after is None else max(start, found.after))
        elif name == "before":
            start = _span(value, name)[0]
            found = replace(found, before=start if found.before is None else min(start, found.before))
        elif name == "year":
            if not re.fullmatch(r"\d{4}", value):
                raise QueryError(f"year:{value} is not a year (year:2023)")
            start, end = _span(value, name)
            found = replace(found, after=start, before=end)
        elif name == "camera":
            found = replace(found, camera=value.lower())
        elif name == "in":
            found = replace(found, folder=_folder(value))
        elif name == "text":
            found = replace(found, text=(*found.text, value))
        elif name == "place":
            found = replace(found, place=(*found.place, value))
        elif name == "country":
            found = replace(found, country=value)
        elif name == "gps":
            if value.lower() not in ("yes", "no"):
                raise QueryError(f"gps:{value}: use gps:yes or gps:no")
            found = replace(found, gps=value.lower() == "yes")
        else:
            found = replace(found, ext=tuple(e.lower().lstrip(".") for e in value.split(",") if e.strip(".")))
    rest = " ".join(_TOKEN.sub(" ", query).split())
    return rest, found


def notes(query: str) -> list[str]:
    """What in the query looks meant as a filter but was not taken as one, each in one line with the nearest
    filter: `yaer:2023` (searched as words), `camera:` or `year: 2023` (the value must follow the colon), and
    a single-valued filter given twice (the last one counts; `text:` and `place:` given twice must both
    match). The search itself goes on: the faces show these beside its results."""
    import difflib

    said: list[str] = []
    counts: dict[str, int] = {}
    for match in _TOKEN.finditer(query):
        counts[match.group(1).lower()] = counts.get(match.group(1).lower(), 0) + 1
    for name, n in counts.items():
        if n > 1 and name in SINGLE:
            said.append(f"{name}: given {n} times: the last one counts")
    for match in _WORD_COLON.finditer(query):
        name, value = match.group(1).lower(), match.group(2)
        if name in NAMES:
            if not value:
                said.append(f"{name}: needs its value right after the colon ({name}:{_EXAMPLES[name]})")
            continue
        near = difflib.get_close_matches(name, NAMES, n=1, cutoff=0.6)
        if near:
            said.append(f"{name}:{value} is not a filter (did you mean {near[0]}:?): searched as words")
    try:
        country = split_filters(query)[1].country
    except QueryError:  # a bad value: the search itself says so
        country = None
    if country and not _known_country(country):
        said.append(f"country:{country} is no country's code or name (country:pt, country:portugal)")
    return said


def _known_country(value: str) -> bool:
    from clipgit.core.errors import ModelUnavailable
    from clipgit.core.models.places import known_country  # numpy: only when a country is asked for

    try:
        return known_country(value)
    except ModelUnavailable:  # no place data: the search says so on its own
        return True


_EXAMPLES = {"after": "2024-06-01", "before": "2024-06-01", "year": "2023", "camera": "pixel", "in": "~/Pictures",
             "ext": "jpg", "text": "receipt", "place": "lisbon", "country": "pt", "gps": "yes"}


def _folder(value: str) -> str:
    return os.path.abspath(os.path.expanduser(value)).rstrip("/") or "/"


def _span(value: str, name: str) -> tuple[float, float]:
    """The start and end of a year, month or day (2024, 2024-06, 2024-06-01) on a photo's clock (see Filters)."""
    parts = value.split("-")
    if not (1 <= len(parts) <= 3 and all(p.isdigit() for p in parts) and len(parts[0]) == 4):
        raise QueryError(f"{name}:{value} is not a date (use 2024, 2024-06 or 2024-06-01)")
    year, month, day = int(parts[0]), int(parts[1]) if len(parts) > 1 else 1, int(parts[2]) if len(parts) > 2 else 1
    try:
        time.strptime(value + "-01-01"[len(value) - 4:], "%Y-%m-%d")  # month 13 and day 32 are refused
        start = calendar.timegm((year, month, day, 0, 0, 0))
        if len(parts) == 1:
            end = calendar.timegm((year + 1, 1, 1, 0, 0, 0))
        elif len(parts) == 2:
            end = calendar.timegm((year + month // 12, month % 12 + 1, 1, 0, 0, 0))
        else:
            end = start + DAY
    except (OverflowError, ValueError):
        raise QueryError(f"{name}:{value} is not a date (use 2024, 2024-06 or 2024-06-01)") from None
    return start, end


DAY = 86_400
# A photo's clock in seconds as Filters counts them: `taken` at its own offset, or (a file's date, a row not read
# again since offsets were kept) at this machine's zone, which SQLite's localtime applies
_LOCAL_TAKEN = ("coalesce({a}.taken + 60 * {a}.taken_offset, "
                "CAST(strftime('%s', {a}.taken, 'unixepoch', 'localtime') AS INTEGER))")


def date_conditions(alias: str, filters: Filters) -> tuple[list[str], list[object]]:
    """SQL conditions and their arguments for after/before on the images table under `alias` (always one: "1").

    Why the dates are the photos' own: 2023-12-31 23:30 in Athens is a 2023 photo wherever one searches from.
    Each bound comes in two conditions: `taken` within a day of it (offsets are under 24 hours), which the
    index on `taken` answers, then the exact one on the photo's clock.
    """
    conds: list[str] = ["1"]
    args: list[object] = []
    local = _LOCAL_TAKEN.format(a=alias)
    if filters.after is not None:
        conds.append(f"{alias}.taken >= ? AND {local} >= ?")
        args += [filters.after - DAY, filters.after]
    if filters.before is not None:
        conds.append(f"{alias}.taken < ? AND {local} < ?")
        args += [filters.before + DAY, filters.before]
    return conds, args
