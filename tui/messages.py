"""Messages: what workers report to the app, and what panes ask of it.

Workers never touch widgets; they post results. Panes never call the app;
they post requests that bubble up to it, so a pane knows nothing of the app
it sits in. Progress messages replace each other in the queue: only the
newest matters.
"""

from __future__ import annotations

from textual.message import Message

from clipgit.core.engine import FolderInfo, SearchResult
from clipgit.core.ingest.indexer import IndexProgress, IndexReport

# what workers report ------------------------------------------------------------------


class ModelReady(Message):
    pass


class ModelFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class IndexProgressed(Message):
    def __init__(self, event: IndexProgress) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        # a newer event of the same phase says all this one says; phase changes (scanning -> embedding) are kept
        return isinstance(message, IndexProgressed) and message.event.phase == self.event.phase == "embedding"


class IndexFinished(Message):
    def __init__(self, report: IndexReport) -> None:
        super().__init__()
        self.report = report


class SearchDone(Message):
    def __init__(self, query: str, results: list[SearchResult], seconds: float, title: str) -> None:
        super().__init__()
        self.query, self.results, self.seconds, self.title = query, results, seconds, title


class FoldersLoaded(Message):
    def __init__(self, folders: list[FolderInfo], images: int) -> None:
        super().__init__()
        self.folders, self.images = folders, images


# what panes ask for -------------------------------------------------------------------


class PathRequest(Message):
    """A request about one image or folder."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path


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


class IndexRequested(Message):
    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        self.paths = paths


class DetailRequested(Message):
    """Move focus to the detail pane."""


class GridRequested(Message):
    """Switch the results between list and grid (asked from a pane that does not own them)."""


class LibraryChanged(Message):
    """Files changed under these library folders (the watcher saw them): index them again."""

    def __init__(self, folders: list[str]) -> None:
        super().__init__()
        self.folders = folders
