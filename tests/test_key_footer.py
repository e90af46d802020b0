"""The footer's key hints follow the focus, and a click on one presses its key (tui/key_footer.py)."""

from __future__ import annotations

from pathlib import Path

from clipgit.core.engine import Engine
from clipgit.tui.key_footer import KeyFooter
from clipgit.tui.panes.results_list import ResultsList
from tests.helpers import app_on, results, wait_for


def _shown(footer: KeyFooter) -> list[str]:
    return [description for _key, _shown, description, _enabled in footer.hints()]


async def test_hints_follow_the_focus_and_a_click_presses_the_key(engine: Engine, tmp_path: Path) -> None:
    app = app_on(engine, tmp_path / "pics", 3)
    async with app.run_test(size=(130, 36)) as pilot:
        await wait_for(pilot, lambda: app.model_state == "ready")
        footer = app.query_one(KeyFooter)
        in_box = _shown(footer)
        assert "Search" in in_box
        assert "Quit" not in in_box and "Similar" not in in_box  # `q` types a q in the box; no result's keys
        assert in_box[-1] == "palette"  # the command palette's key last, on the right
        assert footer.render().plain.rstrip().endswith("^p palette")

        await pilot.press(*"beach", "enter")
        await wait_for(pilot, lambda: len(results(app)) == 3 and isinstance(app.focused, ResultsList))
        await pilot.pause()
        assert {"Similar", "Quit", "Keys", "Add folder"} <= set(_shown(footer))  # the results' keys, and the app's
        assert "Similar" in footer.render().plain

        line = footer.render().plain
        await pilot.click(KeyFooter, offset=(line.index("Keys"), 0))
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
