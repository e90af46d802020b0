"""ClipGitApp: composes the panes and routes messages; holds no search logic.

Every blocking call (model load, index, search, folder counts) is a thread
worker that posts a message; one handler turns worker failures into a
visible notification, so the app never dies with a traceback.
"""

from __future__ import annotations

import gc
import os
import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.actions import SkipAction
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen
from textual.theme import Theme
from textual.timer import Timer
from textual.widgets import Input
from textual.worker import Worker, WorkerState

from clipgit.core.errors import ClipgitError, ModelUnavailable
from clipgit.core.search.history import QueryHistory
from clipgit.tui.captioner import Captioner
from clipgit.tui.format import failure, model_name
from clipgit.tui.job_routes import JobRoutes
from clipgit.tui.key_footer import KeyFooter
from clipgit.tui.library_actions import LibraryActions
from clipgit.tui.library_keeper import LibraryKeeper
from clipgit.tui.messages import (
    DetailRequested,
    GridRequested,
    IndexRequested,
    ModelFailed,
    ModelReady,
    SimilarRequested,
)
from clipgit.tui.panes.detail import DetailPane
from clipgit.tui.panes.library import LibraryPane
from clipgit.tui.panes.results_list import ResultsList
from clipgit.tui.panes.search import SearchInput, SearchPane
from clipgit.tui.panes.status import StatusLine
from clipgit.tui.search_routes import SearchRoutes
from clipgit.tui.text_reader import TextReader
from clipgit.tui.thumbs import ThumbnailCache

if TYPE_CHECKING:
    from clipgit.core.engine import Engine

LIVE_REFRESH_S = 2.0  # while indexing, the current search refreshes at most this often
KEEP_WARM_S = 60.0  # the service's idle exit is minutes away; the open app keeps it warm
TOAST_GONE_S = 0.5  # after a toast's timeout: it is shown (and its timer started) a moment after notify()


class MainScreen(Screen[None]):
    """The app's own screen, which app.tcss lays out side by side: the panes, with the status line and the key
    footer docked under them (no container drawn around the panes: 43 lines less in the first frame)."""

    # only the search box (on_mount focuses it): Textual's default, the first focusable widget, would focus the
    # detail pane as the panes are composed, then on_mount moved it, and each move restyled the panes (~3 ms)
    AUTO_FOCUS = "#query"


class ClipGitApp(LibraryActions, JobRoutes, SearchRoutes, App[None]):
    """The router: owns the engine's workers for model, index and search; the status line follows its reactives."""

    CSS_PATH = "app.tcss"
    TITLE = "clipgit"
    # narrower panes beside the results in small terminals (app.tcss): at 80 columns the fixed library and
    # detail widths left the results 16 columns, too few for a file name
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-medium"), (120, "-wide")]
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Keys"),
        # `/` is taken here, as the app takes each key in turn, so the focus is in the search box before the
        # keys typed right after it are routed (taken by the focused pane, they went to the results)
        Binding("slash", "focus_search", "Search", priority=True),
        Binding("a", "add_folder", "Add folder"),
        Binding("p", "pause_captions", "Pause captions", show=False),
        Binding("t", "cycle_sort", "Sort", show=False),
        Binding("D", "duplicates", "Duplicates", show=False),
        Binding("escape", "go_back", "Back", show=False),
        # Enter in the search box is handled here, as the app takes each key in turn, so focus is on the
        # results before the next key typed ahead is routed (the box's own Submitted came too late for it)
        Binding("enter", "submit_search", show=False, priority=True),
    ]

    model_state: reactive[str] = reactive("loading")  # loading | ready | failed
    device: reactive[str] = reactive("")
    images: reactive[int] = reactive(0)
    index_status: reactive[str] = reactive("")
    caption_status: reactive[str] = reactive("")
    text_status: reactive[str] = reactive("")
    sort: reactive[str] = reactive("score")  # score | date | name: the order of the results shown

    def __init__(self, engine: Engine, paths: list[str] | None = None, *, show_images: bool = True,
                 top: int = 100, show_timings: bool = True, owns_engine: bool = False) -> None:
        """`owns_engine`: close the engine as the app unmounts (clipgit-tui's own launch), before the thread
        workers are joined: a worker still waiting for a model load is told then, and quitting is prompt."""
        self._theme_of: tuple[str, Theme] | None = None  # (name, theme): current_theme's; read as Textual starts
        super().__init__()
        self.engine = engine
        self.owns_engine = owns_engine
        self.show_timings = show_timings
        self.initial_paths = [os.path.abspath(os.path.expanduser(p)) for p in paths or []]
        self.show_images = show_images
        self.top = top
        self.limit = top  # results asked for: one more page each time the cursor reaches the end of the list
        self.total = 0  # how many the current query could list
        self.thumbs = ThumbnailCache(self.call_later, self.call_from_thread)
        self.pending_query: str | None = None
        self.current_query = ""
        self.similar_to: str | None = None
        self.last_search = 0.0
        self._debounce: Timer | None = None
        self.captions = Captioner(engine)
        self.texts = TextReader(engine)
        self.library = LibraryKeeper(engine, self.captions, self.texts)
        self.history = QueryHistory(engine.settings.data_dir if engine.settings.history else None)
        self.notices: list[tuple[str, str]] = []  # (title, message) of every notification shown, oldest first

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Shown as Textual does; also kept in `notices`, which a test (or a later log view) can read."""
        self.notices.append((title, message))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)
        # once the toast is gone (it goes TIMEOUT after it is shown), the pictures it covered are drawn again
        self.set_timer((self.NOTIFICATION_TIMEOUT if timeout is None else timeout) + TOAST_GONE_S,
                       self._redraw_pictures)

    def _redraw_pictures(self) -> None:
        if not self.show_images or not self.is_running:
            return
        from clipgit.tui.preview import redraw_pictures

        redraw_pictures(self.screen)

    @property
    def current_theme(self) -> Theme:
        """Textual's, kept while the theme's name stays: Textual copies the dict of every registered theme to
        look it up, and asks for each line it draws (about 400 times for the first frame, ~15 ms)."""
        name = self.theme
        if self._theme_of is None or self._theme_of[0] != name:
            self._theme_of = (name, super().current_theme)
        return self._theme_of[1]

    # layout ------------------------------------------------------------------
    def get_default_screen(self) -> Screen[None]:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield LibraryPane(id="library")
        yield SearchPane(self.thumbs, self.show_images, self.history, id="search")
        yield DetailPane(self.thumbs, self.show_images, id="detail")
        yield self.captions
        yield self.texts
        yield self.library
        yield StatusLine(id="status").data_bind(
            ClipGitApp.model_state, ClipGitApp.device, ClipGitApp.images, ClipGitApp.index_status,
            ClipGitApp.caption_status, ClipGitApp.text_status, model=self._model_label())
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#query", Input).focus()
        # the workers start once the first frame is drawn: started here, their imports (numpy, Pillow, the
        # catalog: ~150 ms of CPU) held the GIL while the frame was being laid out, and delayed it by as much
        self.call_after_refresh(self._start_work)

    def _start_work(self) -> None:
        # run_app turned the collector off for the first frame: it is back now, and what the start made (it lives
        # as long as the app) is set aside rather than walked by every full collection
        if not gc.isenabled():
            gc.freeze()
            gc.enable()
        self._load_model()  # builds the engine first, on its thread
        self.library.load_folders()
        if self.initial_paths:
            self.library.start_index(self.initial_paths)
        if self.show_images:
            self._load_pictures()

    @work(thread=True, group="pictures", exit_on_error=False)
    def _load_pictures(self) -> None:
        """Import the picture widgets (Pillow, numpy, textual-image) off the UI thread after the first paint,
        so the first result's picture does not wait for them."""
        from clipgit.tui import preview  # noqa: F401

    # model ---------------------------------------------------------------------
    @work(thread=True, group="model", exit_on_error=False)
    def _load_model(self) -> None:
        try:
            self.engine.load_model()
        except ClipgitError as exc:
            self.post_message(ModelFailed(str(exc)))
            return
        self.post_message(ModelReady())

    def on_model_ready(self, message: ModelReady) -> None:
        # torch and transformers bring millions of long-lived objects; a full garbage collection
        # walking them stalled key echo by ~200 ms. Freezing moves them out of the collector's way.
        gc.freeze()
        self.device = self.engine.device_label()
        self.model_state = "ready"
        if self.engine.note:
            self.notify(self.engine.note.removeprefix("clipgit-tui: "), title="Service")  # a CLI's line
        if self.engine.served:
            self.set_interval(KEEP_WARM_S, self._keep_warm)
        if self.pending_query is not None:
            query, self.pending_query = self.pending_query, None
            self.run_search(query)
        self.library.ready()

    @work(thread=True, group="keep-warm", exclusive=True, exit_on_error=False)
    def _keep_warm(self) -> None:
        self.engine.keep_warm()

    def on_model_failed(self, message: ModelFailed) -> None:
        self.model_state = "failed"
        self.notify(message.error, title="Model unavailable", severity="error", timeout=30)
        if self.pending_query is not None:
            self.pending_query = None
            self.query_one(SearchPane).set_info(Text(f"cannot search: {message.error}", style="red"))

    def on_results_list_selected(self, event: ResultsList.Selected) -> None:
        self.open_detail()

    def on_detail_requested(self, message: DetailRequested) -> None:
        self.open_detail()

    def on_similar_requested(self, message: SimilarRequested) -> None:
        self.search_similar(message.path)

    async def on_grid_requested(self, message: GridRequested) -> None:
        await self.query_one(SearchPane).action_toggle_grid()

    def open_detail(self) -> None:
        self.set_focus(self.query_one(DetailPane))

    # the library: the LibraryKeeper component owns it; the app routes ---------------------------------
    def on_library_keeper_counted(self, message: LibraryKeeper.Counted) -> None:
        self.images = message.images

    def on_library_keeper_status(self, message: LibraryKeeper.Status) -> None:
        self.index_status = message.text

    def on_library_keeper_stale(self, message: LibraryKeeper.Stale) -> None:
        if not self.current_query or (message.live and time.monotonic() - self.last_search < LIVE_REFRESH_S):
            return
        self.run_search(self.current_query, quiet=True)

    def on_index_requested(self, message: IndexRequested) -> None:
        self.library.start_index(message.paths)

    # worker failures -------------------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        text = failure(error)
        group = event.worker.group
        if group == "search":
            self.query_one(SearchPane).set_info(Text(text, style="red"))
            if not isinstance(error, ModelUnavailable):  # that one is said once, where the model failed to load
                self.notify(text, title="Search failed", severity="error")
        else:
            self.notify(text, title="Error", severity="error")

    # actions -----------------------------------------------------------------------------------
    def action_duplicates(self) -> None:
        from clipgit.tui.screens.dupes import DupesScreen

        self.push_screen(DupesScreen(self.engine, self.thumbs if self.show_images else None))

    def action_help(self) -> None:
        from clipgit.tui.screens.help import HelpScreen  # loaded when first asked for, not before the first paint

        self.push_screen(HelpScreen())

    def action_focus_search(self) -> None:
        if isinstance(self.focused, Input) or self.screen is not self.screen_stack[0]:
            raise SkipAction()  # typed in a box (the search box's own rule: SearchInput); other screens' keys
        self.focus_search()

    def focus_search(self) -> None:
        field = self.query_one("#query", SearchInput)
        if self.focused is not field:
            field.jumped = True  # this `/` was the jump: the next one in an empty box is typed
        self.set_focus(field)

    def action_go_back(self) -> None:
        focused = self.focused
        detail = self.query_one(DetailPane)
        search = self.query_one(SearchPane)
        if focused is detail or (focused is not None and detail in focused.ancestors):
            search.focus_results()
        else:
            self.focus_search()

    async def action_quit(self) -> None:
        self.library.stop()  # the index run commits its batch in flight and stops
        self.captions.stop()
        self.texts.stop()
        self.exit()

    def _model_label(self) -> str:
        return model_name(self.engine.settings.clip_model)

    def on_unmount(self) -> None:
        self.library.stop()
        self.captions.stop()
        self.texts.stop()
        self.thumbs.close()
        if self.owns_engine:
            self.engine.close()
