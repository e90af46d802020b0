"""Near-duplicates: re-encoded, resized, brightened and exact copies group together; other pictures do not."""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from clipgit.core.config import DEMO_DIRS, Settings
from clipgit.core.engine import Engine
from clipgit.core.errors import QueryError
from clipgit.core.lab.shapes import picture
from clipgit.core.search.dupes import groups_of, similar_pairs
from tests.conftest import cli_env, cli_path


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = tmp_path / "pics"
    folder.mkdir()
    rng = random.Random(5)
    for k in range(6):
        picture(rng, (192, 192))[0].save(folder / f"shape{k}.png")
    original = Image.open(folder / "shape0.png").convert("RGB")
    original.save(folder / "a_reencoded.jpg", quality=60)
    original.resize((96, 96)).save(folder / "a_small.png")
    ImageEnhance.Brightness(original).enhance(1.1).save(folder / "a_brighter.png")
    shutil.copy(folder / "shape0.png", folder / "a_copy.png")
    shutil.copy(folder / "shape3.png", folder / "b_copy.png")
    return folder


@pytest.fixture
def demo_settings(settings: Settings) -> Settings:
    """The shipped demo CLIP: trained on shapes, so different pictures are far apart, as a real model's are."""
    return dataclasses.replace(settings, clip_model=str(DEMO_DIRS["clip_model"]))


@pytest.mark.parametrize("kind", ["exact", "ann"])
def test_groups_copies_and_edits_and_nothing_else(demo_settings: Settings, shots: Path, kind: str) -> None:
    """The same groups from the full comparison and from the approximate index's neighbourhoods."""
    with Engine(dataclasses.replace(demo_settings, vector_index=kind)) as engine:
        engine.index([str(shots)])
        assert engine.vector_index(wait=60).answering == kind
        groups = engine.duplicates(threshold=0.95)
        in_folder = engine.duplicates(threshold=0.95, folder=str(shots / "nowhere"))
        with pytest.raises(QueryError):
            engine.duplicates(threshold=1.5)
    found = [[Path(f.path).name for f in g.files] for g in groups]
    assert found[0][:2] in (["a_copy.png", "shape0.png"], ["shape0.png", "a_copy.png"])  # largest first
    assert set(found[0]) == {"shape0.png", "a_copy.png", "a_reencoded.jpg", "a_small.png", "a_brighter.png"}
    assert found[0][-1] == "a_small.png" and not groups[0].exact and 0.95 <= groups[0].similarity < 1.0
    assert set(found[1]) == {"shape3.png", "b_copy.png"} and groups[1].exact and len(groups) == 2
    assert in_folder == []


def test_pairs_are_blockwise_exact_and_groups_are_components() -> None:
    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((1300, 64)).astype(np.float32)
    vecs[700] = vecs[3] + 0.01 * rng.standard_normal(64)  # across blocks of 512
    vecs[1299] = vecs[700] + 0.01 * rng.standard_normal(64)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    first, second, scores = similar_pairs(vecs, 0.9)
    brute = np.argwhere(np.triu(vecs @ vecs.T, 1) >= 0.9)
    assert sorted(zip(first.tolist(), second.tolist())) == sorted(map(tuple, brute.tolist()))
    assert np.all(scores >= 0.9)
    assert groups_of(1300, list(zip(first.tolist(), second.tolist()))) == [[3, 700, 1299]]


def test_dupes_command_needs_no_torch_and_prints_json(demo_settings: Settings, shots: Path) -> None:
    env = cli_env(demo_settings)
    subprocess.run([cli_path(), "index", str(shots), "-q"], env=env, check=True, capture_output=True)
    code = ("import sys; from clipgit.tui.cli import main; rc = main(['dupes', '--json']); "
            "print('torch' in sys.modules, rc, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stderr.strip() == "False 0"
    groups = json.loads(out.stdout)
    assert [len(g["files"]) for g in groups] == [5, 2] and groups[1]["exact"] is True
    assert {"path", "size", "width", "height", "taken"} <= set(groups[0]["files"][0])
    first = groups[0]["files"][0]  # its capture date as search gives it: ISO 8601 (here the file's mtime)
    assert datetime.fromisoformat(first["taken"]).timestamp() == pytest.approx(Path(first["path"]).stat().st_mtime,
                                                                              abs=1)
    text = subprocess.run([cli_path(), "dupes"], env=env, capture_output=True, text=True)
    assert text.returncode == 0 and "group 1: 5 files, near-identical" in text.stdout
    assert "group 2: 2 files, exact copies" in text.stdout


async def test_the_duplicates_screen_marks_lists_and_moves_never_deleting(demo_settings: Settings, shots: Path,
                                                                          tmp_path: Path) -> None:
    from textual.widgets import Input, Label

    from clipgit.tui.app import ClipGitApp
    from clipgit.tui.screens.dupes import DupesScreen, DupeTile
    from tests.helpers import wait_for

    files_before = sorted(p.name for p in shots.iterdir())
    with Engine(demo_settings) as engine:
        engine.index([str(shots)])
        app = ClipGitApp(engine, show_images=False)
        async with app.run_test(size=(150, 45)) as pilot:
            await wait_for(pilot, lambda: app.model_state == "ready")
            await pilot.press("tab", "D")
            await wait_for(pilot, lambda: isinstance(app.screen, DupesScreen) and bool(app.screen.query(DupeTile)))
            screen = app.screen
            assert isinstance(screen, DupesScreen)
            tiles = list(screen.query(DupeTile))
            assert len(tiles) == 7 and app.focused is tiles[0]
            groups = len(screen.query(".dupe-group"))
            info = str(screen.query_one("#dupes-info", Label).render())
            assert info.startswith(f"{groups} group{'s' if groups != 1 else ''} · "), info  # never "1 groups"
            await pilot.press("right", "m", "right", "m")  # the second and third of the first group
            marked = screen.marked()
            assert marked == [tiles[1].file.path, tiles[2].file.path]
            await pilot.press("w")
            await wait_for(pilot, lambda: app.screen.query("#folder-input"))
            app.screen.query_one(Input).value = str(tmp_path / "marked.txt")
            await pilot.press("enter")
            await pilot.press("y")  # confirm
            await wait_for(pilot, lambda: (tmp_path / "marked.txt").exists())
            assert (tmp_path / "marked.txt").read_text().splitlines() == marked
            await pilot.press("v")
            await wait_for(pilot, lambda: app.screen.query("#folder-input"))
            app.screen.query_one(Input).value = str(tmp_path / "moved")
            await pilot.press("enter", "y")
            moved_dir = tmp_path / "moved"
            await wait_for(pilot, lambda: moved_dir.is_dir() and len(list(moved_dir.iterdir())) == 2)
            await wait_for(pilot, lambda: len(screen.query(DupeTile)) == 5)
    moved = sorted(p.name for p in (tmp_path / "moved").iterdir())
    assert sorted([*moved, *(p.name for p in shots.iterdir())]) == files_before  # moved, nothing deleted


async def test_the_duplicates_screen_moves_by_group_scrolls_rows_and_shows_its_keys(demo_settings: Settings,
                                                                                    shots: Path) -> None:
    from clipgit.tui.app import ClipGitApp
    from clipgit.tui.screens.dupes import DupeRow, DupesScreen, DupeTile
    from clipgit.tui.screens.help import HelpScreen
    from tests.helpers import wait_for

    with Engine(demo_settings) as engine:
        engine.index([str(shots)])
        app = ClipGitApp(engine, show_images=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.model_state == "ready")
            await pilot.press("tab", "D")
            await wait_for(pilot, lambda: isinstance(app.screen, DupesScreen) and bool(app.screen.query(DupeTile)))
            screen = app.screen
            rows = list(screen.query(DupeRow))
            assert len(rows) >= 2 and all(isinstance(r, DupeRow) for r in rows)  # rows scroll sideways
            await pilot.press("down")
            assert app.focused is rows[1].query(DupeTile).first()  # Down: the next group, not the page
            await pilot.press("up")
            assert app.focused is rows[0].query(DupeTile).first()
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
            help_screen = app.screen
            assert isinstance(help_screen, HelpScreen) and any(what == "Mark" for _, _, what in help_screen.rows)


async def test_pictures_a_toast_covered_are_drawn_again_once_it_is_gone(demo_settings: Settings, shots: Path) -> None:
    """A sixel under a toast stayed erased after the toast went (only the cells it had covered were painted
    again, blank): every picture on the screen is drawn again, whole, once a toast's time is up."""
    from clipgit.tui.app import ClipGitApp
    from clipgit.tui.screens.dupes import DupeTile
    from tests.helpers import open_duplicates, wait_for

    with Engine(demo_settings) as engine:
        engine.index([str(shots)])
        app = ClipGitApp(engine)
        async with app.run_test(size=(120, 40)) as pilot:
            await open_duplicates(pilot, app, ".thumb-image")  # each tile's picture drawn
            assert len(app.screen.query(DupeTile)) == 7
            redrawn: list[object] = []
            for picture in app.screen.query(".thumb-image"):
                def spy(*regions: Any, original: Any = picture.refresh, **options: Any) -> Any:
                    redrawn.append(original)
                    return original(*regions, **options)

                picture.refresh = spy  # type: ignore[method-assign]
            await pilot.pause(0.3)
            redrawn.clear()  # whatever the layout did: from here on, only what the toast brings
            app.notify("copied /a/path", title="Path copied", timeout=0.3)
            await pilot.pause(0.2)
            assert redrawn == []  # the toast is still there
            await wait_for(pilot, lambda: len(set(map(id, redrawn))) == 7, timeout=5)  # each picture, whole


async def test_right_moves_along_a_group_wider_than_the_screen(demo_settings: Settings, shots: Path) -> None:
    """At 120 columns the first group (5 files) is wider than the screen: Right scrolled its row by a cell and
    the focus stayed on the first file."""
    from clipgit.tui.app import ClipGitApp
    from clipgit.tui.screens.dupes import DupeRow, DupeTile
    from tests.helpers import open_duplicates

    with Engine(demo_settings) as engine:
        engine.index([str(shots)])
        app = ClipGitApp(engine, show_images=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await open_duplicates(pilot, app)
            row = app.screen.query(DupeRow).first()
            tiles = list(row.query(DupeTile))
            assert len(tiles) == 5 and row.max_scroll_x > 0  # wider than the screen
            for tile in tiles[1:]:
                await pilot.press("right")
                assert app.focused is tile
            await pilot.pause(0.3)
            assert row.scroll_x > 0 and tiles[-1].region.right <= row.region.right  # scrolled to show the last
            await pilot.press("left")
            assert app.focused is tiles[-2]
