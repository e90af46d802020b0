"""Small text helpers shared by the panes: sizes, times, bars, safe names."""

from __future__ import annotations

import os
import re
import time
from typing import TYPE_CHECKING

from rich.text import Text

from clipgit.core.errors import ClipgitError
from clipgit.core.names import display_name
from clipgit.core.progress import duration

if TYPE_CHECKING:
    from clipgit.core.search.searcher import SearchResult

__all__ = ["bar", "clock", "duration", "human_size", "match", "safe", "short_folder", "taken", "when", "wrap_parts",
           "wrap_path"]

MATCH_HELP = ("match: how close the picture is to the query, as CLIP's cosine similarity (about 0.2-0.35 is a "
              "good match for real photos with OpenAI's models); in caption mode, how well the caption's words "
              "match (BM25, higher is better)")


def match(result: SearchResult) -> str:
    """A figure a person can read: the CLIP cosine whenever there is one (hybrid ranks by fused rank, whose
    values of about 0.03 read as a poor match), else the caption words' score; none when browsing."""
    if result.mode == "browse":
        return "  -  "
    if result.clip_score is not None:
        return f"{result.clip_score:.3f}"
    if result.mode == "clip":
        return f"{result.score:.3f}"
    return f"w{result.caption_score if result.caption_score is not None else result.score:.1f}"


def failure(error: BaseException | None) -> str:
    """A worker's failure in one line, as a notification says it: the engine's own message for its typed
    errors, the exception's type beside any other (a bug), names made plain."""
    text = str(error) if isinstance(error, ClipgitError) else f"{type(error).__name__}: {error}"
    return display_name(" ".join(text.split()))


def safe(path: str, style: str = "") -> Text:
    """A path as plain text: markup and escape codes in names are shown, never obeyed."""
    return Text(display_name(path), style=style)


def count(n: int, noun: str) -> str:
    """'1 image', '1,024 images': a library of one photo is not '1 images'."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def bar(fraction: float, width: int = 12) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


TAKEN_FROM = {"exif": "", "exif-local": " (camera clock)", "mtime": " (file date: no capture date in the file)"}


def taken(result: SearchResult) -> str:
    """The capture date and where it came from."""
    if result.taken is None:
        return "not read yet (rescan the folder)"
    return clock(result.taken, result.taken_offset, result.taken_from) + TAKEN_FROM.get(result.taken_from or "", "")


def clock(taken: float, offset: int | None, taken_from: str | None) -> str:
    """A capture time as the clock where the photo was taken showed it, with the photo's offset where it gives
    one ("2023-07-14 18:03 +02:00"): the 18:03 of a photo from Rome is not 12:03 because New York looks at it."""
    from clipgit.core.decode.photo_facts import capture_time  # a photo is shown: the engine has loaded it

    at = capture_time(taken, offset)
    zone = at.strftime("%z")
    return at.strftime("%Y-%m-%d %H:%M") + (f" {zone[:3]}:{zone[3:]}" if taken_from == "exif" and offset is not None
                                           else "")


def when(timestamp: float | None) -> str:
    if not timestamp:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def short_folder(path: str) -> str:
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if path.startswith(home + "/") else path


def wrap_path(path: str, width: int) -> str:
    """PATH in lines of at most WIDTH cells, broken after a `/` (as a person splits a path), not mid-name as
    plain wrapping does; only a name longer than a whole line is cut inside. WIDTH 0: one line."""
    from rich.cells import cell_len

    if width <= 0 or cell_len(path) <= width:
        return path
    lines: list[str] = []
    line = ""
    for part in re.findall(r"[^/]*/|[^/]+", path):  # each name with the `/` after it
        if line and cell_len(line + part) > width:
            lines.append(line)
            line = ""
        line += part
        while cell_len(line) > width:  # a name longer than a line: cut where the line ends
            cut = next(i for i in range(len(line), 0, -1) if cell_len(line[:i]) <= width)
            lines.append(line[:cut])
            line = line[cut:]
    return "\n".join([*lines, line] if line else lines)


def wrap_parts(line: str, width: int, sep: str = " · ") -> str:
    """LINE, made of parts joined by SEP, in lines of at most WIDTH cells broken between parts, not inside
    one ('… · by name · 414' 'ms' read as a cut); a part longer than a line is left to plain wrapping.
    WIDTH 0: one line."""
    from rich.cells import cell_len

    if width <= 0 or cell_len(line) <= width:
        return line
    lines: list[str] = []
    for part in line.split(sep):
        if not lines:
            lines.append(part)
        elif cell_len(lines[-1] + sep + part) <= width or cell_len("· " + part) > width:
            lines[-1] += sep + part  # it fits; or it is wrapped anyway, from where the line is
        else:
            lines.append("· " + part)
    return "\n".join(lines)


def model_name(model: str) -> str:
    """A model's short name for the status line: the hub id's last part, or what the demo model is."""
    from clipgit.core.config import DEMO, DEMO_DIRS

    if model == str(DEMO_DIRS["clip_model"]):
        return f"{DEMO} model (colours and shapes only)"
    return os.path.basename(model.rstrip("/")) or model
