"""`o` open, `y` copy path, `s` similar: the same three keys on the results and on the detail pane."""

from __future__ import annotations

from typing import Any

from core.engine import SearchResult


class ImageActions:
    """Mixed into a pane that shows one image at a time; the pane says which through `shown()`."""

    app: Any

    def shown(self) -> SearchResult | None:
        raise NotImplementedError

    def action_open(self) -> None:
        if (r := self.shown()) is not None:
            self.app.open_external(r.path)

    def action_copy_path(self) -> None:
        if (r := self.shown()) is not None:
            self.app.copy_path(r.path)

    def action_similar(self) -> None:
        if (r := self.shown()) is not None:
            self.app.search_similar(r.path)
