"""Messages that arrive while the app is being taken down (its panes already removed) are no traceback.

benchmarks/app_launch.py closes the app the moment the first results are listed; the results list's
Highlighted message was then handled after the panes had gone, and the app died with NoMatches.
"""

from __future__ import annotations

from pathlib import Path

from clipgit.core.engine import Engine
from clipgit.tui.panes.results_list import ResultsList
from clipgit.tui.panes.search import SearchPane
from tests.helpers import app_on, results, wait_for


async def test_a_result_highlighted_after_the_panes_are_gone_is_ignored(engine: Engine, tmp_path: Path) -> None:
    app = app_on(engine, tmp_path / "pics", 3)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.model_state == "ready")
        await pilot.press(*"red", "enter")
        await wait_for(pilot, lambda: len(results(app)) == 3)
        listed = app.query_one(SearchPane).results
        await app.query("#library, #search, #detail").remove()
        app.post_message(ResultsList.Highlighted(listed[-1]))
        await pilot.pause(0.2)
        assert app.is_running
    assert app.return_code in (None, 0)
