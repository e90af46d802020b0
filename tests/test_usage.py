"""The app and the command line as people use them: typos, natural order, paths typed oddly, folder progress
that ends. Each failed on the code before it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clipgit.core.config import Settings
from clipgit.core.engine import Engine
from clipgit.core.search.searcher import natural_key
from clipgit.tui.app import ClipGitApp
from clipgit.tui.cli import main
from clipgit.tui.panes.library import LibraryPane
from clipgit.tui.panes.search import SearchInput, SearchPane
from tests.conftest import make_photos
from tests.helpers import wait_for


@pytest.mark.parametrize(("word", "nearest"), [("serch", "search"), ("indx", "index"), ("qwertyuiop", None)])
def test_a_typo_is_a_usage_error_naming_the_nearest_command(word: str, nearest: str | None,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main([word, "red"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"'{word}' is neither a command nor a folder" in err
    assert (f"did you mean '{nearest}'" in err) if nearest else "did you mean" not in err


def test_names_sort_as_people_read_them() -> None:
    names = ["big_10.jpg", "big_2.jpg", "Big_1.jpg", "a.jpg", "big_2b.jpg"]
    assert sorted(names, key=natural_key) == ["a.jpg", "Big_1.jpg", "big_2.jpg", "big_2b.jpg", "big_10.jpg"]


def test_a_query_image_written_with_two_slashes_is_the_library_image(engine: Engine, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 4)
    engine.index([str(tmp_path / "pics")])
    path = str(tmp_path / "pics" / "img_0001.png")
    plain = [r.path for r in engine.similar(path)]
    assert [r.path for r in engine.similar("/" + path)] == plain and path not in plain
    assert path not in [r.path for r in engine.search("/" + path)]  # left out of its own results


async def test_every_folder_shows_its_count_once_a_run_over_several_ends(engine: Engine, tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        make_photos(tmp_path / name, 2, start=ord(name))
    engine.index([str(tmp_path / n) for n in ("a", "b", "c")])
    app = ClipGitApp(engine, show_images=False)
    async with app.run_test(size=(140, 45)) as pilot:
        library = app.query_one(LibraryPane)

        def texts_of_folders() -> list[str]:
            return [str(item.query_one(".folder-text").render()) for item in library.items()]

        await wait_for(pilot, lambda: app.model_state == "ready" and not app.library.indexing and
                       len(texts := texts_of_folders()) == 3 and all("2 images" in t for t in texts), timeout=60)
        texts = texts_of_folders()
        assert len(texts) == 3 and all("scanning" not in t and "2 images" in t for t in texts), texts


async def test_help_scrolls_at_80x24(engine: Engine) -> None:
    from textual.containers import VerticalScroll

    app = ClipGitApp(engine, show_images=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.action_help()
        await pilot.pause(0.3)
        scroll = app.screen.query_one("#help-scroll", VerticalScroll)
        assert scroll.max_scroll_y > 0 and app.focused is scroll  # more keys than fit, and the keys move it
        await pilot.press("end")
        await pilot.pause(0.2)
        assert scroll.scroll_y == scroll.max_scroll_y
        box = app.screen.query_one("#help-box")  # the whole scroll area is inside the dialog: its last line shows
        assert scroll.region.bottom <= box.content_region.bottom
        await pilot.press("home", "j", "j")
        await pilot.pause(0.2)
        assert scroll.scroll_y == 2
        await pilot.press("pagedown")
        await pilot.pause(0.2)
        assert scroll.scroll_y > 2


@pytest.mark.parametrize(("env", "wanted"), [
    ({"TERM": "mlterm"}, "256"),
    ({"TERM": "xterm", "XTERM_VERSION": "XTerm(390)"}, "256"),
    ({"TERM": "mlterm", "COLORTERM": "truecolor"}, None),
    ({"TERM": "xterm-256color"}, None),
])
def test_sixel_terminals_that_announce_no_colour_depth_get_256(env: dict[str, str], wanted: str | None) -> None:
    from clipgit.tui.run_app import xterm_colours

    environ = dict(env)
    xterm_colours(environ)
    assert environ.get("TEXTUAL_COLOR_SYSTEM") == wanted


async def test_the_open_app_follows_an_index_and_a_forget_run_from_the_command_line(settings: Settings,
                                                                                   tmp_path: Path) -> None:
    make_photos(tmp_path / "a", 2)
    make_photos(tmp_path / "b", 3, start=10)
    with Engine(settings) as engine, Engine(settings) as command_line:
        engine.index([str(tmp_path / "a")])
        app = ClipGitApp(engine, show_images=False)
        async with app.run_test(size=(140, 45)) as pilot:
            library = app.query_one(LibraryPane)
            await wait_for(pilot, lambda: app.images == 2 and app.model_state == "ready" and not app.library.indexing)
            command_line.index([str(tmp_path / "b")])  # another connection: as a command in another process
            await wait_for(pilot, lambda: app.images == 5 and len(library.items()) == 2)
            command_line.forget(str(tmp_path / "a"))
            await wait_for(pilot, lambda: app.images == 3 and len(library.items()) == 1)


async def test_browsing_says_how_many_and_loads_more_at_the_end_of_the_list(engine: Engine, tmp_path: Path) -> None:
    from textual.widgets import Static

    make_photos(tmp_path / "pics", 25)
    engine.index([str(tmp_path / "pics")])
    app = ClipGitApp(engine, show_images=False, top=10, show_timings=False)
    async with app.run_test(size=(140, 45)) as pilot:
        pane = app.query_one(SearchPane)
        info = app.query_one("#results-info", Static)
        await pilot.press(*"ext:png", "enter")
        await wait_for(pilot, lambda: len(pane.results) == 10 and str(info.render()).startswith("10 of 25 results"))
        await pilot.press("end")
        await wait_for(pilot, lambda: len(pane.results) == 20 and str(info.render()).startswith("20 of 25 results"))
        await pilot.press("end")
        await wait_for(pilot, lambda: len(pane.results) == 25 and str(info.render()).startswith("25 results"))


async def test_offline_first_run_says_it_once_in_one_place(settings: Settings, tmp_path: Path) -> None:
    """No model in the cache and no network: one notification naming the demo, no frozen progress, and the
    search's own line says why it cannot search (it said it five times, with a bar stuck at 0/9)."""
    make_photos(tmp_path / "pics", 9)
    with Engine(settings.with_(clip_model="openai/clip-vit-base-patch32")) as engine:
        app = ClipGitApp(engine, [str(tmp_path / "pics")], show_images=False)
        async with app.run_test(size=(120, 35)) as pilot:
            await pilot.press(*"a dog", "enter")
            await wait_for(pilot, lambda: app.model_state == "failed" and not app.library.indexing
                           and app.query_one(LibraryPane).items())
            await pilot.pause(1.0)
            errors = [(t, m) for t, m in app.notices if t in ("Model unavailable", "Indexing stopped", "Search failed")]
            assert len(errors) == 1 and "clipgit-tui demo" in errors[0][1], app.notices
            texts = [str(i.query_one(".folder-text").render()) for i in app.query_one(LibraryPane).items()]
            assert texts and not any("img/s" in t or "scanning" in t for t in texts), texts


async def test_in_the_grid_a_new_query_focuses_a_tile_and_tab_leaves_the_grid(engine: Engine, tmp_path: Path) -> None:
    from clipgit.tui.panes.detail import DetailPane
    from clipgit.tui.panes.grid import Tile

    make_photos(tmp_path / "pics", 8)
    engine.index([str(tmp_path / "pics")])
    app = ClipGitApp(engine, show_images=False)
    async with app.run_test(size=(140, 45)) as pilot:
        pane = app.query_one(SearchPane)
        await pilot.press(*"red", "enter")
        await wait_for(pilot, lambda: len(pane.results) == 8)
        await pilot.press("g")  # the grid
        await wait_for(pilot, lambda: isinstance(app.focused, Tile))
        await pilot.press("slash", *" car", "enter")  # a new query, Enter: its tiles, one of them focused
        await wait_for(pilot, lambda: app.current_query.endswith(" car") and isinstance(app.focused, Tile)
                       and app.focused.is_attached)
        await pilot.pause(1.0)  # later refreshes of the same query (live search, the library's) keep a tile focused
        await wait_for(pilot, lambda: isinstance(app.focused, Tile))
        first = app.focused
        assert isinstance(first, Tile)
        await pilot.press("right")
        await wait_for(pilot, lambda: isinstance(app.focused, Tile) and app.focused.index == first.index + 1)
        await pilot.press("tab")
        await pilot.pause(0.2)
        assert isinstance(app.focused, DetailPane)  # Tab goes to the next pane, as the help says


def test_filters_not_understood_are_said_and_gps_is_a_filter(settings: Settings, tmp_path: Path) -> None:
    import json
    import subprocess

    from clipgit.core.search.filters import notes, split_filters
    from tests.conftest import cli_env, cli_path

    assert notes("red yaer:2023") == ["yaer:2023 is not a filter (did you mean year:?): searched as words"]
    assert notes("camera: pixel") == ["camera: needs its value right after the colon (camera:pixel)"]
    assert notes("year: 2023") == ["year: needs its value right after the colon (year:2023)"]
    assert notes("year:2023 year:2021 red") == ["year: given 2 times: the last one counts"]
    assert notes("text:a text:b https://example.com red") == []  # both must match; a URL is no filter
    assert notes("country:zz") == ["country:zz is no country's code or name (country:pt, country:portugal)"]
    for known in ("pt", "PT", "portugal", "uk", '"united states"', "usa", "Japan"):
        assert notes(f"country:{known}") == [], known
    assert split_filters("gps:yes red")[1].gps is True and split_filters("gps:no")[1].gps is False
    make_photos(tmp_path / "pics", 3)
    env = cli_env(settings)
    subprocess.run([cli_path(), "index", str(tmp_path / "pics"), "-q"], env=env, check=True, timeout=120)
    out = subprocess.run([cli_path(), "search", "red yaer:2023", "--json"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and len(json.loads(out.stdout)) == 3
    assert out.stderr == "clipgit-tui: note: yaer:2023 is not a filter (did you mean year:?): searched as words\n"
    none = subprocess.run([cli_path(), "search", "gps:yes", "--json"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert none.returncode == 0 and json.loads(none.stdout) == []  # generated photos know no position


async def test_the_results_line_says_what_was_not_taken_as_a_filter(engine: Engine, tmp_path: Path) -> None:
    from textual.widgets import Static

    make_photos(tmp_path / "pics", 3)
    engine.index([str(tmp_path / "pics")])
    app = ClipGitApp(engine, show_images=False, show_timings=False)
    async with app.run_test(size=(160, 45)) as pilot:
        info = app.query_one("#results-info", Static)
        await pilot.press(*"red yaer:2023", "enter")
        await wait_for(pilot, lambda: "did you mean year:?" in str(info.render()))
        assert "yaer:2023 is not a filter (did you mean year:?)" in str(info.render())


async def test_a_query_and_enter_in_one_burst_is_searched_and_kept_in_the_history(engine: Engine,
                                                                                tmp_path: Path) -> None:
    """The app took Enter before the box had taken the keys typed just before it: it searched and kept the
    half-typed query (here an empty one), and only the live search found the whole one."""
    from tests.helpers import app_on, burst, wait_for

    app = app_on(engine, tmp_path / "pics", 3, show_timings=False)
    async with app.run_test(size=(140, 45)) as pilot:
        pane = app.query_one(SearchPane)
        await wait_for(pilot, lambda: app.model_state == "ready")
        burst(app, *"red circle", "enter", "j")
        await wait_for(pilot, lambda: len(pane.results) == 3)
        await pilot.pause(0.5)
        assert app.history.entries()[-1:] == ["red circle"] and app.current_query == "red circle"
        assert app.focused is pane.list  # the key after Enter went to the results, not into the box
        assert app.query_one("#query", SearchInput).value == "red circle"


async def test_slash_and_text_in_one_burst_type_the_text_in_the_search_box(engine: Engine, tmp_path: Path) -> None:
    """From the results, `/` then a query at once: the keys after `/` went to the results (`a` opened the
    add-folder dialog) before the focus had moved."""
    from textual.widgets import Input

    from tests.helpers import app_on, burst, wait_for

    app = app_on(engine, tmp_path / "pics", 3, show_timings=False)
    async with app.run_test(size=(140, 45)) as pilot:
        pane = app.query_one(SearchPane)
        await pilot.press(*"red", "enter")
        await wait_for(pilot, lambda: len(pane.results) == 3 and app.focused is pane.list)
        burst(app, "slash", *"a star")
        await pilot.pause(0.5)
        field = app.query_one("#query", Input)
        assert app.focused is field and field.value == "a star" and app.screen is app.screen_stack[0]


async def test_tab_right_after_typing_completes_the_folder(engine: Engine, tmp_path: Path) -> None:
    """In the add-folder box Tab took the completion computed (in a worker) for what was typed before the
    last keys, or none: Enter then tried the half-typed path."""
    from clipgit.tui.screens.dialogs import AddFolderScreen
    from tests.helpers import burst, wait_for

    make_photos(tmp_path / "holiday-photos", 2)
    app = ClipGitApp(engine, show_images=False, show_timings=False)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for(pilot, lambda: app.model_state == "ready")
        app.action_add_folder()
        await wait_for(pilot, lambda: isinstance(app.screen, AddFolderScreen) and app.focused is not None)
        burst(app, *f"{tmp_path}/holi", "tab", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, AddFolderScreen), timeout=5)
        library = app.query_one(LibraryPane)
        await wait_for(pilot, lambda: len(library.items()) == 1)


def test_models_lines_up_every_row_and_says_what_the_default_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The demo model's row (a long folder path as its id) pushed its figures out of their columns, and the
    default's note called it "the origin document's model"."""
    monkeypatch.setenv("CLIPGIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CLIPGIT_SERVICE", "0")
    assert main(["models", "--clip-model", "demo"]) == 0
    out = capsys.readouterr().out
    table = out.split("\n\n")[0].splitlines()
    assert len(table) == 5 and len({len(row) for row in table}) == 1, table  # every row as wide: in line
    assert table[-1].startswith("* demo ") and "origin document" not in out
    assert "openai/clip-vit-base-patch32: the default: OpenAI's original CLIP" in out


def test_a_config_file_named_but_missing_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """CLIPGIT_CONFIG naming a file that is not there (a typo) was read as "no settings" without a word."""
    monkeypatch.setenv("CLIPGIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CLIPGIT_CONFIG", str(tmp_path / "confgi.toml"))
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"CLIPGIT_CONFIG names {tmp_path / 'confgi.toml'}, which does not exist" in err
    monkeypatch.setenv("CLIPGIT_CONFIG", os.devnull)  # the way to say "no config file"
    assert main(["status"]) == 0


async def test_library_paths_break_after_a_slash_not_inside_a_name(engine: Engine, tmp_path: Path) -> None:
    """At 80 columns a folder's path wrapped as one long word, mid-name (`/tmp/polish-dat` `a/demo/gallery`)."""
    from textual.geometry import Region

    from tests.helpers import app_on, wait_for

    folder = tmp_path / "holiday-photos" / "beach-2023"
    app = app_on(engine, folder, 2)
    async with app.run_test(size=(80, 24)) as pilot:
        library = app.query_one(LibraryPane)
        await wait_for(pilot, lambda: library.items())
        await pilot.pause(0.3)
        text = library.items()[0].query_one(".folder-text")
        width = text.content_size.width
        lines = [strip.text.rstrip() for strip in text.render_lines(Region(0, 0, *text.size))]
        shown = lines[:next(i for i, line in enumerate(lines) if "image" in line)]
        assert "".join(shown) == str(folder) and len(shown) > 1, lines
        for name in str(folder).split("/"):
            if 0 < len(name) < width:  # a name that fits a line is never cut
                assert any(name in line for line in shown), (name, shown)


async def test_grid_tiles_show_their_score_whole(engine: Engine, tmp_path: Path) -> None:
    """A tile's label was the name then the score, cut to the tile's width: the score was what was lost."""
    from textual.geometry import Region

    from clipgit.tui.format import match
    from clipgit.tui.panes.grid import Tile
    from tests.helpers import app_on, wait_for

    app = app_on(engine, tmp_path / "a_rather_long_picture_name", 4)
    async with app.run_test(size=(120, 35)) as pilot:
        pane = app.query_one(SearchPane)
        await pilot.press(*"red", "enter")
        await wait_for(pilot, lambda: len(pane.results) == 4)
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.focused, Tile))
        await pilot.pause(0.3)
        for tile in app.query(Tile).results(Tile):
            label = tile.query_one(".tile-label")
            line = label.render_lines(Region(0, 0, label.size.width, 1))[0].text
            assert match(tile.result).strip() in line and line.rstrip().endswith("…"), line


async def test_the_results_line_breaks_between_its_parts(engine: Engine, tmp_path: Path) -> None:
    """At 120 columns the line over the results broke inside a part ('… · by name · 414' 'ms'); before it
    wrapped, '· by name' was cut off."""
    from textual.app import App, ComposeResult
    from textual.geometry import Region
    from textual.widget import Widget

    from clipgit.tui.panes.search import InfoLine
    from tests.helpers import app_on, wait_for

    def lines(info: Widget) -> list[str]:
        rendered = info.render_lines(Region(0, 0, info.size.width, info.size.height))
        return [s.text.strip() for s in rendered if s.text.strip()]

    app = app_on(engine, tmp_path / "pics", 3)
    async with app.run_test(size=(120, 35)) as pilot:
        pane = app.query_one(SearchPane)
        await pilot.press(*"red", "enter")
        await wait_for(pilot, lambda: len(pane.results) == 3)
        await pilot.press("t", "t")
        info = app.query_one("#results-info")
        await wait_for(pilot, lambda: any(line.startswith("3 results · by name") for line in lines(info)))
        width = info.size.width  # the line as wide as the app gives it at 120 columns

    class Line(App[None]):
        CSS = f"InfoLine {{ width: {width}; padding: 0 2; height: auto; }}"

        def compose(self) -> ComposeResult:
            yield InfoLine("100 of 200 results · by name · 414 ms")  # a page of a bigger library

    line = Line()
    async with line.run_test(size=(120, 10)) as pilot:
        await pilot.pause(0.2)
        shown = line.query_one(InfoLine)
        assert lines(shown) == ["100 of 200 results · by name", "· 414 ms"]
        shown.styles.width = 120
        await pilot.pause(0.2)
        assert lines(shown) == ["100 of 200 results · by name · 414 ms"]  # wider: one line again


async def test_the_next_page_loads_after_a_refresh_that_found_the_same_results(engine: Engine, tmp_path: Path) -> None:
    """A background refresh (the library watcher's, captions') that found the same results left the rows as
    they were but the pane's results new: the end of the list no longer matched the last result, and no more
    were loaded (test_browsing_says_how_many_and_loads_more_at_the_end_of_the_list failed so on a busy machine)."""
    from tests.helpers import app_on, wait_for

    app = app_on(engine, tmp_path / "pics", 25, top=10, show_timings=False)
    async with app.run_test(size=(140, 45)) as pilot:
        pane = app.query_one(SearchPane)
        await pilot.press(*"ext:png", "enter")
        await wait_for(pilot, lambda: len(pane.results) == 10)
        shown = pane.results
        app.run_search(app.current_query, quiet=True)  # as the library's or the captioner's refresh does
        await wait_for(pilot, lambda: pane.results is not shown)
        await pilot.press("end")
        await wait_for(pilot, lambda: len(pane.results) == 20)
