"""The search, routed: what is typed (debounced), Enter, a search on a worker thread, its answer shown, the
next page, the order; mixed into the app.

Kept apart from app.py as job_routes.py is. The state it reads and sets (the query shown, the page asked for,
the query waiting for the model) is the app's, set up there; the searching itself is the engine's.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.actions import SkipAction
from textual.app import App
from textual.css.query import NoMatches
from textual.widgets import Input

from clipgit.core.names import display_name
from clipgit.tui.messages import SearchDone
from clipgit.tui.panes.detail import DetailPane
from clipgit.tui.panes.results_list import ResultsList
from clipgit.tui.panes.search import SearchInput, SearchPane
from clipgit.tui.results_line import results_line

if TYPE_CHECKING:
    from textual.timer import Timer

    from clipgit.core.engine import Engine
    _AppBase = App[None]
else:
    _AppBase = object

DEBOUNCE_S = 0.3


class SearchRoutes(_AppBase):
    """Handles the search box, the search worker's answers and the results list's paging (their messages
    bubble up to the app this is mixed into)."""

    engine: Engine
    top: int
    limit: int
    total: int
    pending_query: str | None
    current_query: str
    similar_to: str | None
    last_search: float
    _debounce: Timer | None
    show_timings: bool
    model_state: str
    images: int
    sort: str

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "query":
            return
        if self._debounce is not None:
            self._debounce.stop()
        value = event.value
        if value == self.current_query:
            return  # searched already: Enter took it before the box had reported the keys typed before it
        self._debounce = self.set_timer(DEBOUNCE_S, lambda: self.run_search(value))

    def action_submit_search(self) -> None:
        field = self.focused
        if not isinstance(field, SearchInput):
            raise SkipAction()  # Enter anywhere else does what it does there
        # The focus moves now, so the keys typed after Enter act on the results; the query is read once the
        # box has taken the keys typed before it, still queued there in a fast burst (a paste, a fast typist)
        self.query_one(SearchPane).focus_results()
        field.call_later(self._submit, field)

    def _submit(self, field: SearchInput) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self.query_one(SearchPane).remember(field.value)
        self.run_search(field.value)

    def run_search(self, query: str, *, quiet: bool = False) -> None:
        try:
            pane = self.query_one(SearchPane)
        except NoMatches:
            return  # the app is closing (a background job's refresh came after its panes went)
        if not query.strip():
            self.current_query = ""
            self.similar_to = None
            pane.set_info("type to search")
            return
        if not quiet:
            self.similar_to = None
            self.limit = self.top
        self.current_query = query
        if self.model_state == "loading":
            self.pending_query = query
            pane.set_info(Text("loading model… the search runs as soon as it is ready", style="cyan"))
            return
        self.last_search = time.monotonic()
        self._search_worker(query, self.similar_to)

    def search_similar(self, path: str) -> None:
        field = self.query_one("#query", Input)
        with field.prevent(Input.Changed):
            field.value = path
        self.similar_to = path
        self.current_query = path
        self.limit = self.top
        if self.model_state == "loading":
            self.pending_query = path
            return
        self.last_search = time.monotonic()
        self._search_worker(path, path)

    @work(thread=True, group="search", exclusive=True, exit_on_error=False)
    def _search_worker(self, query: str, similar_to: str | None) -> None:
        started = time.perf_counter()
        limit = self.limit
        if similar_to is not None:
            from clipgit.core.search.searcher import sorted_by  # loaded by the engine already, on this thread

            results = sorted_by(self.engine.similar(similar_to, top=limit), self.sort)
            title = f"like {display_name(os.path.basename(similar_to))}"
            total = len(results) if len(results) < limit else self.engine.matching("") - 1
        else:
            results = self.engine.search(query, top=limit, sort=self.sort)
            title = ""
            total = len(results) if len(results) < limit else self.engine.matching(query)
        self.post_message(SearchDone(query, results, time.perf_counter() - started, title, max(total, len(results))))

    async def on_search_done(self, message: SearchDone) -> None:
        if message.query != self.current_query:
            return  # an older query finished after a newer one started
        self.total = message.total
        info = results_line(message, sort=self.sort, timings=self.show_timings, images=self.images,
                            model=self.engine.settings.clip_model, similar=self.similar_to is not None)
        try:
            pane = self.query_one(SearchPane)
            await pane.show_results(message.results, info)
            await self.query_one(DetailPane).show(pane.selected())
        except NoMatches:
            pass  # the app is closing: its panes are already gone

    async def on_results_list_highlighted(self, event: ResultsList.Highlighted) -> None:
        try:
            shown = self.query_one(SearchPane).results
            # equal, not the same: a refresh that found the same results keeps the rows but gives new objects
            if shown and event.result == shown[-1] and len(shown) >= self.limit and self.total > len(shown):
                self.limit += self.top  # the end of the list: the next page, the cursor kept where it is
                self.run_search(self.current_query, quiet=True)
            await self.query_one(DetailPane).show(event.result)
        except NoMatches:
            pass  # the app is closing: its panes are already gone

    def action_cycle_sort(self) -> None:
        from clipgit.core.search.filters import SORTS  # here: the dates' parsing it brings is not needed sooner

        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.notify(f"results sorted by {self.sort}", title="Sort")
        self.refresh_results()

    def refresh_results(self) -> None:
        if self.current_query:
            self.run_search(self.current_query, quiet=True)
