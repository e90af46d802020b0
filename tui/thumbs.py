"""Thumbnails and previews decoded at the size shown, off the UI thread, and cached.

Why: decoding a 12 MP JPEG in full for a 6x3-cell thumbnail would stall
scrolling; a JPEG draft at the shown size costs a few ms, and an LRU cache
makes scrolling back free.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from clipgit.core.errors import ImageUnreadable

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image


class ThumbnailCache:
    """`done` callbacks always run on the UI thread: `call_later` for hits, `call_from_thread` from the pool."""

    def __init__(self, call_later: Callable[..., Any], call_from_thread: Callable[..., Any], workers: int = 2,
                 capacity: int = 512) -> None:
        self._call_later = call_later
        self._call_from_thread = call_from_thread
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None  # made at the first request, after the app's first paint
        self._cache: OrderedDict[tuple[str, int], Image.Image | str] = OrderedDict()
        self._lock = threading.Lock()
        self._capacity = capacity

    def get(self, path: str, size: int) -> Image.Image | str | None:
        """A cached thumbnail, an error text, or None when not decoded yet."""
        with self._lock:
            hit = self._cache.get((path, size))
            if hit is not None:
                self._cache.move_to_end((path, size))
            return hit

    def request(self, path: str, size: int, done: Callable[[Image.Image | str], Any]) -> None:
        """Hand `done` the thumbnail (or why there is none) on the UI thread."""
        hit = self.get(path, size)
        if hit is not None:
            self._call_later(done, hit)
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="clipgit-thumbs")
        self._pool.submit(self._load, path, size, done)

    def _load(self, path: str, size: int, done: Callable[[Image.Image | str], Any]) -> None:
        # Pillow and the decoder are imported here, on the pool's thread, not before the app's first paint
        from PIL import Image

        from clipgit.core.decode.image import decode, read_bytes

        result: Image.Image | str
        try:
            img, _, _ = decode(read_bytes(path), draft_size=size)
            img.thumbnail((size, size), Image.Resampling.BILINEAR)
            result = img
        except ImageUnreadable as exc:
            result = str(exc)
        except Exception as exc:  # a thumbnail must never take the app down
            result = f"cannot show: {exc}"
        with self._lock:
            self._cache[(path, size)] = result
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
        try:
            self._call_from_thread(done, result)
        except RuntimeError:
            pass  # the app closed while we decoded

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
