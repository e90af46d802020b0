"""Messages the workers post to the app (workers never touch widgets)."""

from __future__ import annotations

from textual.message import Message

from core.engine import SearchResult
from core.indexer import IndexProgress, IndexReport


class ModelReady(Message):
    def __init__(self, device: str, precision: str) -> None:
        super().__init__()
        self.device, self.precision = device, precision


class ModelFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class IndexProgressed(Message):
    def __init__(self, event: IndexProgress) -> None:
        super().__init__()
        self.event = event


class IndexFinished(Message):
    def __init__(self, report: IndexReport, folders: list[str]) -> None:
        super().__init__()
        self.report, self.folders = report, folders


class SearchDone(Message):
    def __init__(self, query: str, results: list[SearchResult], seconds: float, title: str) -> None:
        super().__init__()
        self.query, self.results, self.seconds, self.title = query, results, seconds, title


class FoldersLoaded(Message):
    def __init__(self, folders: list, images: int) -> None:  # list[FolderInfo]
        super().__init__()
        self.folders, self.images = folders, images


class CaptionReady(Message):
    def __init__(self, path: str, caption: str | None, error: str | None) -> None:
        super().__init__()
        self.path, self.caption, self.error = path, caption, error


class CaptionFailed(Message):
    """The caption model cannot be used; captions stop being asked for."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class CaptionProgressed(Message):
    def __init__(self, event: object) -> None:  # core.captioning.CaptionProgress
        super().__init__()
        self.event = event


class CaptionsFinished(Message):
    pass
