"""The engine's interface: what the command line and the app call, whoever answers.

Why a Protocol: the in-process `Engine` and the service's client (`RemoteEngine`) answer the same calls with
the same result types and typed errors, and mypy checks every face against this one list rather than
against `Any`. Library bookkeeping that needs no model (status, forget, duplicates, folders) is not here:
the faces run it in their own process, on an `Engine`, whether or not a service answers the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .config import Settings
    from .ingest.caption_jobs import Captioned, CaptionProgress
    from .ingest.indexer import IndexProgress
    from .ingest.ocr_jobs import OcrProgress, TextRead
    from .lab.evaluate import EvalProgress
    from .search.searcher import SearchResult


class EngineAPI(Protocol):
    settings: Settings

    def search(self, query: str, top: int = 10, folder: str | None = None, mode: str = "auto",
               sort: str = "score", exact: bool = False) -> list[SearchResult]: ...

    def vector_index_note(self) -> str:
        """One line when the approximate index is wanted but search answers exactly (building, stale), else ""."""
        ...

    def similar(self, path: str, top: int = 10, folder: str | None = None) -> list[SearchResult]: ...

    def caption(self, paths: Sequence[str], *, max_tokens: int | None = None,
                beams: int | None = None) -> list[Captioned]: ...

    def index_iter(self, paths: Sequence[str], cancel: threading.Event | None = None) -> Iterator[IndexProgress]:
        """Progress of an index run; the last event has phase "done" and the report (a run cut short raises
        JobInterrupted)."""
        ...

    def caption_library_iter(self, cancel: threading.Event | None = None, pause: threading.Event | None = None,
                             root: str | None = None) -> Iterator[CaptionProgress]: ...

    def ocr(self, paths: Sequence[str]) -> list[TextRead]: ...

    def ocr_library_iter(self, cancel: threading.Event | None = None, pause: threading.Event | None = None,
                         root: str | None = None) -> Iterator[OcrProgress]: ...

    def evaluate_iter(self, folder: str, *, captions: bool = True,
                      cancel: threading.Event | None = None) -> Iterator[EvalProgress]: ...

    def close(self) -> None: ...
