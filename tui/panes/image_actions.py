"""`o` open, `y` copy path, `s` similar: the same three keys on the results and on the detail pane."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.message import Message

from clipgit.tui.messages import CopyPathRequested, OpenRequested, PathRequest, SimilarRequested

if TYPE_CHECKING:
    from clipgit.core.engine import SearchResult


class ImageActions:
    """Mixed into a pane that shows one image at a time; the pane says which through `shown()`.

    The keys post requests up to whoever handles them (the app); the pane itself does nothing with files.
    """

    post_message: Callable[[Message], bool]  # the widget's own, which this is mixed into

    def shown(self) -> SearchResult | None:
        raise NotImplementedError

    def _request(self, kind: type[PathRequest]) -> None:
        if (r := self.shown()) is not None:
            self.post_message(kind(r.path))

    def action_open(self) -> None:
        self._request(OpenRequested)

    def action_copy_path(self) -> None:
        self._request(CopyPathRequested)

    def action_similar(self) -> None:
        self._request(SimilarRequested)
