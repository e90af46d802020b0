"""Search history: the searches a person moved on to the results of, recalled with Up and Down."""

from __future__ import annotations

import stat
from pathlib import Path

from textual.widgets import Input

from clipgit.core.engine import Engine
from clipgit.core.search.history import KEEP, QueryHistory
from clipgit.tui.app import ClipGitApp
from clipgit.tui.panes.results_list import ResultsList
from clipgit.tui.panes.search import SearchPane
from tests.conftest import make_photos
from tests.helpers import wait_for


def test_kept_newest_last_once_each_and_private(tmp_path: Path) -> None:
    history = QueryHistory(tmp_path)
    for query in ("red  car", "beach", "red car", "beach", "", "   "):
        history.add(query)
    assert history.entries() == ["red car", "beach"]  # an earlier copy moves up; blanks are no search
    again = QueryHistory(tmp_path)  # the next session
    assert again.entries() == ["red car", "beach"]
    assert stat.S_IMODE((tmp_path / "history.txt").stat().st_mode) == 0o600
    for i in range(KEEP + 5):
        again.add(f"q{i}")
    assert len(QueryHistory(tmp_path).entries()) == KEEP and again.entries()[-1] == f"q{KEEP + 4}"


def test_two_windows_keep_both_their_searches(tmp_path: Path) -> None:
    left, right = QueryHistory(tmp_path), QueryHistory(tmp_path)
    left.add("beach")
    right.add("receipts")  # this one never read "beach", and must not write over it
    left.add("kids")
    assert QueryHistory(tmp_path).entries() == ["beach", "receipts", "kids"]


def test_off_or_unwritable_keeps_nothing_and_raises_nothing(tmp_path: Path) -> None:
    off = QueryHistory(None)
    off.add("beach")
    assert off.entries() == []
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    stuck = QueryHistory(blocked)  # its history.txt cannot be made
    stuck.add("beach")
    assert stuck.entries() == ["beach"] and not (tmp_path / "history.txt").exists()


async def test_up_and_down_step_through_earlier_searches(engine: Engine, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 4)
    engine.index([str(tmp_path / "pics")])
    app = ClipGitApp(engine)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for(pilot, lambda: app.model_state == "ready")
        box = app.query_one("#query", Input)
        await pilot.press(*"red car", "enter")  # Enter: a search settled on
        await wait_for(pilot, lambda: isinstance(app.focused, ResultsList))
        await pilot.press("slash")
        box.value = ""
        await pilot.press(*"beach")
        await wait_for(pilot, lambda: bool(app.query_one(SearchPane).results))
        await pilot.press("down")  # Down into the results: settled on too
        await wait_for(pilot, lambda: isinstance(app.focused, ResultsList))
        await wait_for(pilot, lambda: app.history.entries() == ["red car", "beach"])
        await pilot.press("slash")
        box.value = ""
        await pilot.press(*"sno")  # being typed
        await pilot.press("up")
        assert box.value == "beach"
        await pilot.press("up", "up")  # the oldest stays
        assert box.value == "red car"
        await wait_for(pilot, lambda: app.current_query == "red car")  # a recalled search runs
        await pilot.press("down")
        assert box.value == "beach"
        await pilot.press("down")
        assert box.value == "sno" and app.focused is box  # back to what was being typed
        await pilot.press("up", "up", "ctrl+u", *"sun", "up")  # an edited recall is a new query
        assert box.value == "beach"
        await pilot.press("down")
        assert box.value == "sun"
        box.value = "sno"
        await pilot.press("down")  # then Down moves into the results, as before
        assert isinstance(app.focused, ResultsList)
    assert QueryHistory(engine.settings.data_dir).entries() == ["red car", "beach", "sno"]


async def test_history_off_keeps_no_searches(engine: Engine, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 2)
    engine.index([str(tmp_path / "pics")])
    with Engine(engine.settings.with_(history=False)) as quiet:
        app = ClipGitApp(quiet)
        async with app.run_test(size=(140, 45)) as pilot:
            await wait_for(pilot, lambda: app.model_state == "ready")
            await pilot.press(*"red car", "enter")
            await wait_for(pilot, lambda: isinstance(app.focused, ResultsList))
            await pilot.press("slash", "up")
            assert app.query_one("#query", Input).value == "red car"  # nothing recalled
    assert not (engine.settings.data_dir / "history.txt").exists()
