"""clipgit's engine: index image folders with CLIP and search them. No UI code here.

The names below load on first use (PEP 562): a decode worker process imports `clipgit.core.decode.pool`,
and importing the whole engine first cost each of them 130 ms before its first file.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clipgit.core.config import Settings
    from clipgit.core.engine import Engine, FolderInfo, SearchResult, Status
    from clipgit.core.errors import (
        Cancelled,
        ClipgitError,
        ConfigError,
        ImageUnreadable,
        ModelUnavailable,
        NotInLibrary,
        QueryError,
    )
    from clipgit.core.ingest.indexer import IndexProgress, IndexReport

_WHERE = {
    "Settings": "config", "Engine": "engine", "FolderInfo": "engine", "SearchResult": "engine", "Status": "engine",
    "Cancelled": "errors", "ClipgitError": "errors", "ConfigError": "errors", "ImageUnreadable": "errors",
    "ModelUnavailable": "errors", "NotInLibrary": "errors", "QueryError": "errors", "IndexProgress": "ingest.indexer",
    "IndexReport": "ingest.indexer",
}

__all__ = [
    "Cancelled", "ClipgitError", "ConfigError", "Engine", "FolderInfo", "ImageUnreadable", "IndexProgress",
    "IndexReport", "ModelUnavailable", "NotInLibrary", "QueryError", "SearchResult", "Settings", "Status",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
