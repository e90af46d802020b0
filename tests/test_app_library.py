"""The app's library pane and its sync with the folders on disk: opening picks up what changed, removing
asks first, quitting mid-index resumes, and results that land as the app closes are no error."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from clipgit.core.config import Settings
from clipgit.core.engine import Engine
from clipgit.tui.app import ClipGitApp
from clipgit.tui.panes.library import FolderItem, LibraryPane
from tests.conftest import make_photos
from tests.helpers import plain, three_photos, wait_for


async def test_opening_the_app_picks_up_what_changed_while_it_was_closed(engine: Engine, tmp_path: Path) -> None:
    """A camera import while the app was closed: new photos are indexed on opening, deleted ones dropped,
    without a key; an unchanged library opens without an 'Indexed' note."""
    pics = tmp_path / "pics"
    make_photos(pics, 3)
    engine.index([str(pics)])
    quiet = ClipGitApp(engine)
    async with quiet.run_test(size=(140, 45)) as pilot:
        await wait_for(pilot, lambda: quiet.images == 3 and not quiet.library.indexing)
        await pilot.pause(0.3)
        assert not [t for t, _ in quiet.notices if t == "Indexed"]
    make_photos(pics, 2, start=3)
    (pics / "img_0000.png").unlink()
    app = ClipGitApp(engine)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for(pilot, lambda: app.images == 4 and not app.library.indexing)
        assert engine.status().images == 4


async def test_an_empty_library_says_how_to_add_a_folder(engine: Engine, tmp_path: Path) -> None:
    """The hint sits under the pane's title, where the eye starts (it was at the pane's foot, under the
    empty folder list), and goes once there is a folder."""
    app = ClipGitApp(engine)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for(pilot, lambda: app.model_state == "ready")
        hint = app.query_one("#library-empty", Static)
        pane = app.query_one(LibraryPane).region
        assert hint.display and "press a" in plain(hint)
        assert pane.contains_region(hint.region) and hint.region.y == pane.y + 1, (hint.region, pane)
        make_photos(tmp_path / "pics", 1)
        app.library.start_index([str(tmp_path / "pics")])
        await wait_for(pilot, lambda: app.images == 1 and not hint.display)


async def test_folders_arriving_as_the_app_closes_are_no_error(engine: Engine, tmp_path: Path) -> None:
    """The folder list can land after the panes are gone (a quick quit): that raised NoMatches, a traceback."""
    from clipgit.tui.messages import FoldersLoaded

    app = three_photos(engine, tmp_path)
    async with app.run_test(size=(140, 45)) as pilot:
        await app.query_one(LibraryPane).remove()
        app.library.post_message(FoldersLoaded(engine.folders(), 3))
        await pilot.pause(0.2)
    assert app.return_code in (0, None)


async def test_remove_folder_asks_first(engine: Engine, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 2)
    engine.index([str(tmp_path / "pics")])
    app = ClipGitApp(engine, show_images=False)
    async with app.run_test(size=(140, 45)) as pilot:
        library = app.query_one(LibraryPane)
        await wait_for(pilot, lambda: bool(library.items()))
        library.list.focus()
        await pilot.press("d", "n")
        await pilot.pause(0.2)
        assert engine.status().images == 2
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: not library.items())
        assert engine.status().images == 0


async def test_quitting_during_indexing_stops_cleanly_and_the_next_run_resumes(settings: Settings,
                                                                                tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 120, size=(320, 240))
    with Engine(settings.with_(batch_size=4)) as engine:
        app = ClipGitApp(engine, [str(tmp_path / "pics")], show_images=False)
        async with app.run_test(size=(140, 45)) as pilot:
            await wait_for(pilot, lambda: engine.status().images > 0, timeout=60)
            await pilot.press("tab", "q")
        done_first = engine.status().images
    with Engine(settings) as engine:
        report = engine.index([str(tmp_path / "pics")])
        assert report.unchanged + report.embedded == 120 and report.unchanged >= done_first - 4
        assert engine.status().images == 120


async def test_folder_items_show_progress_rate_and_time_left() -> None:
    from textual.app import App, ComposeResult
    from textual.widgets import ListView

    from clipgit.core.engine import FolderInfo
    from clipgit.core.ingest.indexer import IndexProgress, IndexReport
    from clipgit.tui.panes.library import FolderText

    item = FolderItem(FolderInfo(1, "/p", 10, 2, None, True))
    unplugged = FolderItem(FolderInfo(1, "/media/drive", 10, 0, None, True, empty=True))

    class Folders(App[None]):
        def compose(self) -> ComposeResult:
            yield ListView(item, unplugged)

    async with Folders().run_test(size=(80, 12)) as pilot:
        item.update_info(progress=IndexProgress("embedding", 50, 200, 12.5, 12.0, folder="/p", report=IndexReport()))
        await pilot.pause()
        text = plain(item.query_one(FolderText))
        assert "50/200" in text and "12.5 img/s" in text and "0:12 left" in text
        assert "not mounted?" not in text
        assert "10 images · folder empty: not mounted?" in plain(unplugged.query_one(FolderText))
