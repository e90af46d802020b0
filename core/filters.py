"""Filters in a query (`after:2024-06-01 year:2023 camera:pixel in:~/Pictures/trip ext:png`) and as flags.

Why in the query string: the app's one search box and the command line's
`search` take the same text, and a script can pass filters the same way.
Filters narrow the library before the top-k, so a filtered search returns
the best matches inside the filter, not a filtered top-10; with no other
words they list the matching images by date (browse mode).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, replace

from .errors import QueryError

_TOKEN = re.compile(r'(?:(?<=\s)|^)(after|before|year|camera|in|ext):("[^"]*"|\S+)', re.IGNORECASE)
SORTS = ("score", "date", "name")


@dataclass(frozen=True)
class Filters:
    after: float | None = None  # taken at or after (seconds since the epoch)
    before: float | None = None  # taken before
    camera: str | None = None  # a part of "make model", any case
    folder: str | None = None  # an absolute folder
    ext: tuple[str, ...] = ()  # lower-case extensions, without the dot

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
    found: dict[str, object] = {}
    for match in _TOKEN.finditer(query):
        name, value = match.group(1).lower(), match.group(2).strip('"')
        if not value:
            raise QueryError(f"{name}: needs a value")
        if name == "after":
            found["after"] = max(_span(value, name)[0], float(found.get("after") or -1e18))  # type: ignore[arg-type]
        elif name == "before":
            found["before"] = min(_span(value, name)[0], float(found.get("before") or 1e18))  # type: ignore[arg-type]
        elif name == "year":
            if not re.fullmatch(r"\d{4}", value):
                raise QueryError(f"year:{value} is not a year (year:2023)")
            start, end = _span(value, name)
            found["after"], found["before"] = start, end
        elif name == "camera":
            found["camera"] = value.lower()
        elif name == "in":
            found["folder"] = _folder(value)
        else:
            found["ext"] = tuple(e.lower().lstrip(".") for e in value.split(",") if e.strip("."))
    rest = " ".join(_TOKEN.sub(" ", query).split())
    return rest, Filters(**found)  # type: ignore[arg-type]


def _folder(value: str) -> str:
    return os.path.abspath(os.path.expanduser(value)).rstrip("/") or "/"


def _span(value: str, name: str) -> tuple[float, float]:
    """The start and end (local time) of a year, month or day: 2024, 2024-06, 2024-06-01."""
    parts = value.split("-")
    if not (1 <= len(parts) <= 3 and all(p.isdigit() for p in parts) and len(parts[0]) == 4):
        raise QueryError(f"{name}:{value} is not a date (use 2024, 2024-06 or 2024-06-01)")
    year, month, day = int(parts[0]), int(parts[1]) if len(parts) > 1 else 1, int(parts[2]) if len(parts) > 2 else 1
    try:
        start = time.mktime((year, month, day, 0, 0, 0, 0, 0, -1))
        if len(parts) == 1:
            end = time.mktime((year + 1, 1, 1, 0, 0, 0, 0, 0, -1))
        elif len(parts) == 2:
            end = time.mktime((year + month // 12, month % 12 + 1, 1, 0, 0, 0, 0, 0, -1))
        else:
            end = start + 86_400
        time.strptime(value + "-01-01"[len(value) - 4:], "%Y-%m-%d")  # month 13 and day 32 are refused
    except (OverflowError, ValueError):
        raise QueryError(f"{name}:{value} is not a date (use 2024, 2024-06 or 2024-06-01)") from None
    return start, end
