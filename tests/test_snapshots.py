"""Snapshot tests of the main screen with results, the help screen and an error state.

Everything on screen is made deterministic: a fixed folder, fixed file times,
images off (thumbnails arrive asynchronously), timings hidden.

Changed on purpose (2026-12-03): the footer became one widget (tui/key_footer.py) instead of Textual's widget
per key. The three pictures are the same cell for cell (every character, colour and position; checked by
comparing the SVGs with their content hash taken out); the SVGs differ only in how the footer's background
rectangles are split, which follows the widgets' segments.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from clipgit.core.config import Settings
from clipgit.core.engine import Engine
from clipgit.tui.app import ClipGitApp
from clipgit.tui.panes.detail import DetailPane
from clipgit.tui.panes.search import SearchPane
from tests.conftest import make_photos

FIXED = Path("/tmp/clipgit-snapshots")
SIZE = (130, 36)
SnapCompare = Callable[..., bool]  # pytest-textual-snapshot's fixture: snap_compare(app, terminal_size=, run_before=)


@pytest.fixture
def fixed_library(tiny_clip: Path, tiny_git: Path) -> Settings:
    shutil.rmtree(FIXED, ignore_errors=True)
    pics = FIXED / "pics"
    for i, path in enumerate(make_photos(pics, 8)):
        os.utime(path, (1_700_000_000 + i * 60, 1_700_000_000 + i * 60))
    (pics / "broken.jpg").write_bytes(b"")
    os.utime(pics / "broken.jpg", (1_700_000_000, 1_700_000_000))
    settings = Settings(data_dir=FIXED / "data", clip_model=str(tiny_clip), caption_model=str(tiny_git),
                        device="cpu", precision="fp32")
    with Engine(settings) as engine:
        engine.index([str(pics)])
    return settings


async def _settle(pilot: Pilot[Any], condition: Callable[[], bool]) -> None:
    for _ in range(400):
        if condition():
            break
        await pilot.pause(0.05)
    await pilot.pause(0.2)


def test_main_screen_with_results(fixed_library: Settings, snap_compare: SnapCompare) -> None:
    engine = Engine(fixed_library)
    app = ClipGitApp(engine, show_images=False, show_timings=False)

    async def run_before(pilot: Pilot[Any]) -> None:
        await _settle(pilot, lambda: app.model_state == "ready" and app.images == 8)
        await pilot.press(*"kids on a beach at sunset", "enter")
        await _settle(pilot, lambda: len(app.query_one(SearchPane).results) == 8)
        await pilot.press("j")
        detail = app.query_one(DetailPane)
        await _settle(pilot, lambda: detail.caption is not None and not detail.caption.startswith("writing"))

    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
    finally:
        engine.close()


def test_help_screen(fixed_library: Settings, snap_compare: SnapCompare) -> None:
    engine = Engine(fixed_library)
    app = ClipGitApp(engine, show_images=False, show_timings=False)

    async def run_before(pilot: Pilot[Any]) -> None:
        await _settle(pilot, lambda: app.model_state == "ready" and app.images == 8)
        await pilot.press("tab", "question_mark")
        await pilot.pause(0.3)

    try:
        assert snap_compare(app, terminal_size=(130, 40), run_before=run_before)
    finally:
        engine.close()


def test_model_unavailable_error_state(fixed_library: Settings, snap_compare: SnapCompare) -> None:
    engine = Engine(fixed_library.with_(clip_model="openai/clip-vit-base-patch32"))
    app = ClipGitApp(engine, show_images=False, show_timings=False)

    async def run_before(pilot: Pilot[Any]) -> None:
        await _settle(pilot, lambda: app.model_state == "failed")
        await pilot.press(*"a dog", "enter")
        detail = app.query_one(DetailPane)
        # the selected image's caption is written on demand: the picture is taken once it is there (it was taken
        # before or after it, by the machine's speed)
        await _settle(pilot, lambda: detail.caption is not None and not detail.caption.startswith("writing"))

    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
    finally:
        engine.close()


