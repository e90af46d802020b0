"""Messages: what workers report to the app, and what panes ask of it.

Workers never touch widgets; they post results. Panes never call the app;
they post requests that bubble up to it, so a pane knows nothing of the app
it sits in. Progress messages replace each other in the queue: only the
newest matters.

A message with fields is a dataclass (Textual's Message sets itself up in
`__post_init__` for that); `eq=False` keeps them compared, and hashed, by
identity, as a message is one event and not a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from clipgit.core.engine import FolderInfo, SearchResult
    from clipgit.core.ingest.indexer import IndexProgress, IndexReport


# what workers report ------------------------------------------------------------------


class ModelReady(Message):
    pass


@dataclass(eq=False)
class ModelFailed(Message):
    error: str


@dataclass(eq=False)
class IndexProgressed(Message):
    event: IndexProgress

    def can_replace(self, message: Message) -> bool:
        # a newer event of the same phase says all this one says; phase changes (scanning -> embedding) are kept
        return isinstance(message, IndexProgressed) and message.event.phase == self.event.phase == "embedding"


@dataclass(eq=False)
class IndexFinished(Message):
    report: IndexReport


@dataclass(eq=False)
class SearchDone(Message):
    query: str
    results: list[SearchResult]
    seconds: float
    title: str
    total: int = 0  # how many the query could list (more than the results: the list can load more)


@dataclass(eq=False)
class FoldersLoaded(Message):
    folders: list[FolderInfo]
    images: int


# what panes ask for -------------------------------------------------------------------


@dataclass(eq=False)
class PathRequest(Message):
    """A request about one image or folder."""

    path: str


class SimilarRequested(PathRequest):
    pass


class OpenRequested(PathRequest):
    pass


class CopyPathRequested(PathRequest):
    pass


class CaptionRequested(PathRequest):
    pass


class RemoveFolderRequested(PathRequest):
    pass


class SkippedRequested(PathRequest):
    pass


@dataclass(eq=False)
class IndexRequested(Message):
    paths: list[str]


class DetailRequested(Message):
    """Move focus to the detail pane."""


class GridRequested(Message):
    """Switch the results between list and grid (asked from a pane that does not own them)."""


@dataclass(eq=False)
class LibraryChanged(Message):
    """Files changed under these library folders (the watcher saw them): index them again."""

    folders: list[str]
