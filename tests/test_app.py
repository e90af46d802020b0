"""The app driven with Pilot on the real engine and the tiny model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Static
from textual_image._terminal import get_cell_size

from clipgit.core.config import Settings
from clipgit.core.engine import Engine
from clipgit.tui.app import ClipGitApp
from clipgit.tui.panes.detail import DetailPane
from clipgit.tui.panes.grid import ResultsGrid, Thumb, Tile
from clipgit.tui.panes.library import LibraryPane
from clipgit.tui.panes.results_list import ResultsList
from clipgit.tui.screens.dialogs import AddFolderScreen, SkippedScreen
from clipgit.tui.screens.help import HelpScreen
from tests.conftest import make_photos, photo
from tests.helpers import plain, plain_prompt, results, three_photos, wait_for


async def test_add_folder_index_search_navigate_detail_similar_and_quit(engine: Engine, tmp_path: Path) -> None:
    pics = tmp_path / "pics"
    make_photos(pics, 12)
    app = ClipGitApp(engine)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for(pilot, lambda: app.model_state == "ready")
        await pilot.press("tab")  # away from the search input, so 'a' is a key, not text
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AddFolderScreen))
        app.screen.query_one(Input).value = str(pics)
        await pilot.press("enter")
        library = app.query_one(LibraryPane)
        await wait_for(pilot, lambda: any(i.info.images == 12 for i in library.items()) and not app.library.indexing)

        await pilot.press("slash")
        await pilot.press(*"a red car")
        await wait_for(pilot, lambda: len(results(app)) == 12)
        assert results(app) == [r.path for r in engine.search("a red car", top=100)]

        await pilot.press("down")  # from the input into the results
        assert isinstance(app.focused, ResultsList)
        await pilot.press("j", "j")
        detail = app.query_one(DetailPane)
        await wait_for(pilot, lambda: detail.result is not None and detail.result.path == results(app)[2])
        meta = plain(app.query_one("#meta", Static))
        assert os.path.basename(results(app)[2]) in meta
        await pilot.press("k")
        await wait_for(pilot, lambda: detail.result is not None and detail.result.path == results(app)[1])

        await pilot.press("enter")
        assert app.screen.focused is detail
        assert detail.result is not None
        chosen = detail.result.path
        await pilot.press("s")
        await wait_for(pilot, lambda: len(results(app)) == 11 and chosen not in results(app))
        assert results(app) == [r.path for r in engine.similar(chosen, top=100)]

        await pilot.press("escape", "g")  # back to the results, then the grid
        await wait_for(pilot, lambda: len(app.query(Tile)) == 11)
        await pilot.press("l")
        assert isinstance(app.focused, Tile) and app.focused.index == 1
        grid = app.query_one(ResultsGrid)
        cell = get_cell_size()
        square = round(7 * cell.height / cell.width) + 2  # a tile whose picture box is square in pixels
        assert grid.columns == (grid.size.width + 1) // (square + 1) >= 1
        assert all(tile.outer_size.width >= square for tile in app.query(Tile))
        await pilot.press("j")  # a row down: as many tiles on as there are columns
        assert isinstance(app.focused, Tile) and app.focused.index == 1 + grid.columns
        await pilot.press("g")

        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await pilot.press("q")
    assert app.return_code in (0, None)


async def search_sunset(pilot: Any, app: ClipGitApp) -> ResultsList:
    await pilot.press(*"sunset", "enter")
    await wait_for(pilot, lambda: len(results(app)) == 3)
    return app.query_one(ResultsList)


async def test_thumbnails_and_preview_are_drawn(engine: Engine, tmp_path: Path) -> None:
    app = three_photos(engine, tmp_path)
    async with app.run_test(size=(140, 45)) as pilot:
        rows = await search_sunset(pilot, app)
        # every row's thumbnail arrives as coloured half-blocks
        await wait_for(pilot, lambda: all("▀" in plain_prompt(rows.prompts[i]) for i in range(3)))
        await wait_for(pilot, lambda: bool(app.query("#preview-image")))
        await pilot.press("g")
        await wait_for(pilot, lambda: all(t.children for t in app.query(Thumb)))


async def test_an_80_column_terminal_leaves_the_results_room_for_names(engine: Engine, tmp_path: Path) -> None:
    """At 80x24 the library's 32 columns and the detail's 40% had left the results 16: a score, no name."""
    app = three_photos(engine, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        rows = await search_sunset(pilot, app)
        assert rows.size.width >= 30
        line = "".join(segment.text for segment in rows.render_line(0))
        assert "img_000" in line, line  # the first row's file name is drawn
    wide = ClipGitApp(engine)
    async with wide.run_test(size=(140, 45)):
        assert wide.query_one(LibraryPane).outer_size.width == 32  # wide terminals keep the full panes


async def test_t_sorts_by_date_then_name_and_the_results_line_says_so(engine: Engine, tmp_path: Path) -> None:
    app = three_photos(engine, tmp_path)
    async with app.run_test(size=(140, 45)) as pilot:
        await search_sunset(pilot, app)
        by_score = results(app)
        assert by_score != sorted(by_score, key=os.path.basename)  # else the name order proves nothing
        info = app.query_one("#results-info", Static)
        await pilot.press("t", "t")  # date, then name
        await wait_for(pilot, lambda: "by name" in str(info.render()))
        await wait_for(pilot, lambda: results(app) == sorted(by_score, key=os.path.basename))
        await pilot.press("t")  # back to the score
        await wait_for(pilot, lambda: results(app) == by_score and "by " not in str(info.render()))


async def test_one_image_and_one_result_are_singular(engine: Engine, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 1)
    engine.index([str(tmp_path / "pics")])
    app = ClipGitApp(engine)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.press(*"sunset", "enter")
        await wait_for(pilot, lambda: len(results(app)) == 1)
        await wait_for(pilot, lambda: "1 result" in str(app.query_one("#results-info", Static).render()))
        assert "1 results" not in str(app.query_one("#results-info", Static).render())
        await wait_for(pilot, lambda: "· 1 image" in plain(app.query_one("#status", Static)))
        folder = app.query_one(LibraryPane).items()[0].query_one(".folder-text", Static)
        await wait_for(pilot, lambda: "1 image" in plain(folder))
        assert "1 images" not in plain(folder)


async def test_results_refresh_while_indexing_and_search_waits_for_model(engine: Engine, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 40)
    app = ClipGitApp(engine, [str(tmp_path / "pics")])
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.press(*"mountain")
        await wait_for(pilot, lambda: not app.library.indexing and len(results(app)) == 40, timeout=60)


async def test_model_that_cannot_load_shows_an_error_and_the_app_goes_on(settings: Settings, tmp_path: Path) -> None:
    broken = settings.with_(clip_model="openai/clip-vit-base-patch32")
    with Engine(broken) as engine:
        app = ClipGitApp(engine)
        async with app.run_test(size=(140, 45)) as pilot:
            await wait_for(pilot, lambda: app.model_state == "failed")
            assert any("not downloaded" in message for _, message in app.notices)
            assert "model unavailable" in plain(app.query_one("#status", Static))
            await pilot.press(*"a dog", "enter")
            await wait_for(pilot, lambda: "not downloaded" in plain(app.query_one("#results-info", Static)))
            await pilot.press("tab", "question_mark")  # still alive and answering keys
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))


async def test_names_with_markup_are_plain_text_and_skipped_files_are_listed(engine: Engine, tmp_path: Path) -> None:
    pics = tmp_path / "pics"
    pics.mkdir()
    photo(1).save(pics / "[bold red]loud.png")
    (pics / "broken.jpg").write_bytes(b"")
    engine.index([str(pics)])
    app = ClipGitApp(engine, show_images=False)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.press(*"x", "enter")
        await wait_for(pilot, lambda: len(results(app)) == 1)
        shown = plain_prompt(app.query_one(ResultsList).prompts[0])
        assert "[bold red]loud.png" in shown
        library = app.query_one(LibraryPane)
        await wait_for(pilot, lambda: bool(library.items()))
        library.list.focus()
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, SkippedScreen))
        assert isinstance(app.screen, SkippedScreen)
        assert app.screen.skipped == [(str(pics / "broken.jpg"), "empty file")]
        await pilot.press("escape")


async def test_detail_shows_the_caption_written_on_demand(engine: Engine, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 4)
    engine.index([str(tmp_path / "pics")])
    app = ClipGitApp(engine, show_images=False)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.press(*"a horse", "enter")
        await wait_for(pilot, lambda: len(results(app)) == 4)
        detail = app.query_one(DetailPane)
        assert detail.result is not None
        selected = detail.result.path
        expected = engine.caption([selected])[0].caption
        await wait_for(pilot, lambda: detail.caption == expected)
        assert expected is not None and expected in plain(app.query_one("#meta", Static))
    assert engine.cached_caption(selected) == expected  # written on demand, and cached


async def test_background_captioning_with_pause(settings: Settings, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 80)
    with Engine(settings.with_(captions=True, caption_batch_size=1)) as engine:
        app = ClipGitApp(engine, [str(tmp_path / "pics")], show_images=False)
        async with app.run_test(size=(140, 45)) as pilot:
            await wait_for(pilot, lambda: app.captions.running and app.captions.progress is not None
                           and app.captions.progress.done > 0, timeout=60)
            await pilot.press("tab", "p")
            assert app.captions.pause.is_set()
            await pilot.pause(0.5)
            frozen = engine.status().captions
            await pilot.pause(1.0)
            assert engine.status().captions <= frozen + 1  # at most the batch in flight lands
            assert "paused" in plain(app.query_one("#status", Static))
            await pilot.press("p")
            await wait_for(pilot, lambda: not app.captions.running, timeout=240)  # 80 captions; a busy machine
        assert engine.status().captions == 80


async def test_unavailable_caption_model_is_said_once_and_search_goes_on(settings: Settings, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 3)
    with Engine(settings.with_(caption_model="microsoft/git-base-coco")) as engine:
        engine.index([str(tmp_path / "pics")])
        app = ClipGitApp(engine, show_images=False)
        async with app.run_test(size=(140, 45)) as pilot:
            await pilot.press(*"x", "enter")
            await wait_for(pilot, lambda: app.captions.unavailable is not None)
            detail = app.query_one(DetailPane)
            await wait_for(pilot, lambda: "unavailable" in (detail.caption or ""))
            await pilot.press("j")
            await pilot.pause(0.3)
            assert sum("Captions unavailable" in title for title, _ in app.notices) == 1
            assert len(results(app)) == 3


async def test_keys_typed_ahead_act_on_the_results_and_the_slash_rule(engine: Engine, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """`/`, a query, Enter and `q` in one burst while the model still loads: the query is not a path, the app quits."""
    import threading

    make_photos(tmp_path / "pics", 4)
    engine.index([str(tmp_path / "pics")])
    gate = threading.Event()
    load = engine.load_model
    monkeypatch.setattr(engine, "load_model", lambda: (gate.wait(20), load()))
    app = ClipGitApp(engine)
    try:
        async with app.run_test(size=(140, 45)) as pilot:
            await pilot.press("slash", *"a red circle", "enter")
            assert app.query_one("#query", Input).value == "a red circle"  # the jump `/` was not typed
            assert isinstance(app.focused, ResultsList)  # at once, while the model loads
            assert "loading model" in str(app.query_one("#results-info", Static).content)
            await pilot.press("q")
            await pilot.pause(0.1)
            assert not app.is_running
    finally:
        gate.set()

    app = ClipGitApp(engine)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for(pilot, lambda: app.model_state == "ready")
        box = app.query_one("#query", Input)
        await pilot.press("slash", "slash", *"tmp")  # the first `/` jumps (the box had focus), the second is typed
        assert box.value == "/tmp"
        await pilot.press("tab", "slash")  # from elsewhere `/` jumps; in the empty box the next `/` is typed
        box.value = ""
        await pilot.press("slash", *"x")
        assert app.focused is box and box.value == "/x"


def test_result_names_line_up_whatever_the_scores_sign() -> None:
    """CLIP cosines go below zero for poor matches: '-0.082' is one character wider than '0.428'."""
    from clipgit.core.search.searcher import SearchResult
    from clipgit.tui.panes.search import result_prompt

    rows = [plain_prompt(result_prompt(SearchResult(i, f"/p/{name}", score, 8, 8, 1, 0, mode=mode), None))
            for i, (name, score, mode) in enumerate([("a.png", 0.428, "clip"), ("b.png", -0.082, "clip"),
                                                     ("c.png", 3.5, "caption"), ("d.png", 0.0, "browse")])]
    starts = {row.splitlines()[0].index(name) for row, name in zip(rows, ["a.png", "b.png", "c.png", "d.png"])}
    assert len(starts) == 1, rows


async def test_the_collector_turned_off_for_the_first_frame_is_back_once_it_is_drawn(engine: Engine) -> None:
    """run_app turns the garbage collector off while the first frame is made (its collections were ~40 ms of
    the first paint); the app turns it back on after that frame, or a long session would never collect."""
    import gc

    gc.disable()
    try:
        app = ClipGitApp(engine, show_images=False)
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, gc.isenabled)
    finally:
        gc.enable()
        gc.unfreeze()  # what the app set aside for its own run: this process runs other tests


@pytest.mark.parametrize("width", [80, 200])
async def test_the_status_line_keeps_the_work_in_progress_in_sight(width: int) -> None:
    """At 80 columns the model name and device give way (then the key hint), never the progress."""
    from textual.app import App, ComposeResult

    from clipgit.tui.panes.status import StatusLine

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield StatusLine(id="status")

    app = Host()
    async with app.run_test(size=(width, 10)) as pilot:
        line = app.query_one(StatusLine)
        line.model, line.model_state = "ViT-SO400M-14-SigLIP-384 (webli)", "ready"
        line.device, line.images = "cpu (float32)", 416
        line.caption_status = "captioning 12/60 · 1.20/s · 0:40 left (p pauses)"
        line.text_status = "reading text 48/60 · 7.41/s · 0:01 left (p pauses)"
        await pilot.pause()
        shown = plain(line).strip()
        assert len(shown) <= width and "reading text 48/60 · " in shown and "0:01 left" in shown
        assert "captioning 12/60 · " in shown and "0:40 left" in shown
        assert ("ViT-SO400M" in shown) == (width == 200) and "416 images" in shown
        assert ("(p pauses)" in shown) == (width == 200)


async def test_a_library_job_stopped_and_started_again_goes_on_counting() -> None:
    """An index run stops the text job and starts it again on what is left: the status line goes on from where
    it was (8/10, then 10/10), it does not start over on a smaller total (2/2)."""
    import threading
    from collections.abc import Iterator

    from textual.app import App, ComposeResult

    from clipgit.core.progress import Progress
    from clipgit.tui.library_job import LibraryJob

    runs: list[list[Progress[None]]] = [[Progress("reading", 0, 10), Progress("reading", 8, 10)],
                                         [Progress("reading", 0, 2), Progress("reading", 2, 2)]]

    class Job(LibraryJob):
        NOUN = ("text", "reading text")

        def wanted(self) -> bool:
            return True

        def events(self, cancel: threading.Event) -> Iterator[Any]:
            yield from runs.pop(0)
            cancel.wait(30)  # a run goes on until it is stopped

        def on_library_job_progressed(self, message: LibraryJob.Progressed) -> None:
            self._progressed(message)

        def on_library_job_finished(self, message: LibraryJob.Finished) -> None:
            self._finished(message)

    job = Job(None)  # type: ignore[arg-type]  # the engine is not used: events() stands in for it

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield job

    async with Host().run_test() as pilot:
        job.start_background()
        await wait_for(pilot, lambda: job.status_text().startswith("reading text 8/10"))
        job.stop()
        job.start_background()  # the index run has ended
        await wait_for(pilot, lambda: job.status_text().startswith("reading text 10/10"))
        job.stop()


def test_the_detail_pane_names_a_place_or_gives_the_position_alone() -> None:
    from clipgit.tui.panes.detail import place_line

    lisbon = {"locality": "Baixa", "city": "Lisbon", "region": "Lisbon", "country": "Portugal", "lat": 38.7108,
              "lon": -9.1366}
    assert place_line(lisbon) == "Baixa, Lisbon, Portugal (38.7108, -9.1366)"
    sea = {"locality": "", "city": "", "region": "", "country": "", "lat": 30.0, "lon": -40.0}
    assert place_line(sea) == "(30.0000, -40.0000)"  # far from any town
