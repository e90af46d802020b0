"""The line over the results: how many (of how many), the order, what the query's `text:` filter meant, what
was not understood as a filter, the time taken, and which model answered during a switch.

Why apart from the app: it is what a person reads to trust the list ("100 of 800", "no text read in the
pictures holds ..."), built from one search's answer; the app only routes the answer to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clipgit.core.errors import ClipgitError
from clipgit.core.names import display_name
from clipgit.tui.format import count, model_name

if TYPE_CHECKING:
    from clipgit.tui.messages import SearchDone


def results_line(message: SearchDone, *, sort: str, timings: bool, images: int, model: str, similar: bool) -> str:
    """`images`: how many the library holds (none: the line says how to add some); `model`: the CLIP model
    asked for (an answer from another says it comes from the previous model until the switch is done)."""
    from clipgit.core.search.filters import notes  # here: loaded by the search already, not before the first frame

    n = len(message.results)
    info = (f"{n} of {count(message.total, 'result')}" if message.total > n else count(n, "result")) + \
        (f" {message.title}" if message.title else "")
    if sort != "score":  # `t` changed the order: the line says which, after the toast is gone
        info += f" · by {sort}"
    words = text_filters(message.query)
    if words:  # the line says the results are pictures whose text holds the words
        info += " · text: " + ", ".join(f'"{display_name(w)}"' for w in words) + " in the pictures"
    if timings:
        info += f" · {message.seconds * 1000:.0f} ms"
    answered = message.results[0].model if message.results else ""
    if answered and answered != model:  # a model switch still embedding
        info += f" · answered by {model_name(answered)} until {model_name(model)} has embedded the library"
    if n == 0:
        info = "no results yet: add a folder with a" if images == 0 else "no results"
        if words and images:
            info += " · no text read in the pictures holds " + ", ".join(f'"{display_name(w)}"' for w in words)
    if not similar and (said := notes(message.query)):  # what was not taken as a filter
        info += " · " + "; ".join(display_name(note) for note in said)
    return info


def text_filters(query: str) -> tuple[str, ...]:
    """The `text:` words of a query (none when it does not parse: the search says why)."""
    from clipgit.core.search.filters import split_filters

    try:
        return split_filters(query)[1].text
    except ClipgitError:
        return ()
