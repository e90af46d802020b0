"""clipgit's engine: index image folders with CLIP and search them. No UI code here."""

from .config import Settings
from .engine import Engine, FolderInfo, SearchResult, Status
from .errors import Cancelled, ClipgitError, ConfigError, ImageUnreadable, ModelUnavailable, NotInLibrary, QueryError
from .indexer import IndexProgress, IndexReport

__all__ = [
    "Cancelled", "ClipgitError", "ConfigError", "Engine", "FolderInfo", "ImageUnreadable", "IndexProgress",
    "IndexReport", "ModelUnavailable", "NotInLibrary", "QueryError", "SearchResult", "Settings", "Status",
]
