"""The keys table (tui/keys.py, which the help screen and the README show) says what the app really binds.

Each key the table lists for a place is bound there, as the running app reports its bindings with that place
focused; each binding the footer shows there is in the table, under the place that binds it. In the search box
the letters the table gives for anywhere are typed, as in any text box (the running app says so too). The
near-duplicates screen is described in the table's D row; the dialogs (add a folder, confirm, skipped files,
help) say their own keys on screen and are left out.
"""

from __future__ import annotations

from pathlib import Path

from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import key_to_character
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import ListView

from clipgit.core.engine import Engine
from clipgit.tui.app import ClipGitApp
from clipgit.tui.keys import KEYS
from clipgit.tui.panes.detail import DetailPane
from clipgit.tui.panes.library import LibraryPane
from clipgit.tui.panes.results_list import ResultsList
from clipgit.tui.panes.search import SearchInput, SearchPane
from clipgit.tui.screens.dupes import DupesScreen
from tests.helpers import results, three_photos, wait_for

NAMES = {"/": "slash", "?": "question_mark", "Esc": "escape"}
# keys a widget reads in its key handler, not through a binding: the search box steps through earlier
# searches with Up and Down (SearchInput._on_key), and Down with results moves into them (SearchPane.on_key)
HANDLED_IN_CODE = {"Search": {"up", "down"}}
# who binds a key, as the table names the place: the pane titled Results holds the search box and the results
PLACE_OF: list[tuple[type[DOMNode], str]] = [
    (ClipGitApp, "Anywhere"), (Screen, "Anywhere"), (SearchInput, "Search"), (SearchPane, "Results"),
    (ResultsList, "Results"), (LibraryPane, "Library"), (ListView, "Library"), (DetailPane, "Detail")]


def key_names(label: str) -> set[str]:
    """Textual's names of the keys in one cell of the table: `j / k, arrows` -> j, k, up, down."""
    names: set[str] = set()
    for part in label.split(" / "):
        for key in part.split(", "):
            if key == "arrows":
                names |= {"up", "down"}
            else:
                names.add(NAMES.get(key, key if len(key) == 1 else key.lower()))
    return names


def table() -> dict[str, set[str]]:
    """The keys the table lists for each place ("Anywhere" included in every other place)."""
    places: dict[str, set[str]] = {}
    for where, label, _ in KEYS:
        for place in where.split(", "):
            places.setdefault(place, set()).update(key_names(label))
    for place in places:
        if place != "Anywhere":
            places[place] |= places["Anywhere"]
    return places


def place_of(node: DOMNode) -> str:
    return next((place for kind, place in PLACE_OF if isinstance(node, kind)), type(node).__name__)


def test_key_names_read_the_tables_cells() -> None:
    assert key_names("j / k, arrows") == {"j", "k", "up", "down"}
    assert key_names("q / Ctrl+Q") == {"q", "ctrl+q"} and key_names("/") == {"slash"}
    assert key_names("Tab / Shift+Tab") == {"tab", "shift+tab"} and key_names("D") == {"D"}


async def test_each_place_binds_the_keys_the_table_lists_and_shows_no_other(engine: Engine, tmp_path: Path) -> None:
    listed = table()
    app = three_photos(engine, tmp_path)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for(pilot, lambda: app.model_state == "ready")
        await pilot.press(*"sunset", "enter")
        await wait_for(pilot, lambda: len(results(app)) == 3)
        library = app.query_one(LibraryPane)
        await wait_for(pilot, lambda: bool(library.items()))
        focus: dict[str, Widget] = {"Library": library.list, "Search": app.query_one(SearchInput),
                                    "Results": app.query_one(ResultsList), "Detail": app.query_one(DetailPane)}
        assert set(focus) == set(listed) - {"Anywhere"}, "a place of the table this test does not visit"
        for place, widget in focus.items():
            widget.focus()
            await pilot.pause()
            assert app.focused is widget
            active = app.screen.active_bindings
            typed = {key for key in listed["Anywhere"] if widget.check_consume_key(key, key_to_character(key))}
            assert not typed or place == "Search", f"{place} types {sorted(typed)}"
            unbound = listed[place] - set(active) - HANDLED_IN_CODE.get(place, set()) - typed
            assert not unbound, f"{place}: the table lists {sorted(unbound)}, which nothing binds there"
            for key, bound in active.items():
                if bound.binding.show:
                    owner = place_of(bound.node)
                    assert key in listed.get(owner, set()), (
                        f"{place}: the footer shows {key} ({bound.binding.description}) of {owner}, not in the table")


def test_the_duplicates_row_tells_the_duplicates_screens_keys() -> None:
    (row,) = [what for _, key, what in KEYS if key == "D"]
    told = {clause.split(" ")[0] for clause in row.split("; ", 1)[1].split(", ")}  # "m marks, o opens, ..."
    bindings = [b for b in DupesScreen.BINDINGS if isinstance(b, Binding)]
    assert len(bindings) == len(DupesScreen.BINDINGS)
    bound = {key.strip() for b in bindings for key in b.key.split(",")}
    assert told <= bound, f"the D row tells {sorted(told - bound)}, which the screen does not bind"
    # Esc goes back and ? shows the keys (this screen's own, read from its bindings), as anywhere
    shown = {b.key.split(",")[0].strip() for b in bindings if b.show} - {"escape", "question_mark"}
    assert shown <= told, f"the screen's footer shows {sorted(shown - told)}, which the D row does not tell"
