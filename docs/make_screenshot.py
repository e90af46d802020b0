"""Render docs/screenshot.svg (the app on a small generated library) and docs/demo.svg (the app as
`clipgit-tui demo` shows it, with the shipped demo models). Run by hand:

    python docs/make_screenshot.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def main() -> None:
    from textual_image.widget import HalfcellImage

    import tui.preview
    from core.config import Settings
    from core.engine import Engine
    from core.random_models import build_clip, build_git
    from tests.conftest import make_photos
    from tui.app import ClipGitApp
    from tui.panes.search import SearchPane

    tui.preview.ImageWidget = HalfcellImage  # colour half-blocks, as in tmux
    work = Path(tempfile.mkdtemp(prefix="clipgit-shot-"))
    pics = Path("/tmp/Pictures/holiday-2025")
    make_photos(pics, 24, size=(400, 300), ext="jpg")
    settings = Settings(data_dir=work / "data", clip_model=str(build_clip(work / "random-weights-clip")),
                        caption_model=str(build_git(work / "random-weights-git")), precision="fp32")
    with Engine(settings) as engine:
        engine.index([str(pics)])
        app = ClipGitApp(engine, show_timings=False)
        async with app.run_test(size=(150, 40)) as pilot:
            while app.model_state != "ready":
                await pilot.pause(0.05)
            await pilot.press(*"kids on a beach at sunset", "enter")
            while len(app.query_one(SearchPane).results) < 24:
                await pilot.pause(0.05)
            await pilot.press("j")
            await pilot.pause(2.0)  # the preview decodes and the caption is written in the background
            app.save_screenshot(filename="screenshot.svg", path=str(ROOT / "docs"))
    await demo_shot(work)


async def demo_shot(work: Path) -> None:
    import argparse

    from core.config import Settings
    from core.engine import Engine
    from tui.app import ClipGitApp
    from tui.demo import demo_settings, ensure_gallery
    from tui.panes.search import SearchPane

    gallery = Path("/tmp/clipgit-demo-gallery")
    ensure_gallery(gallery, 200)
    settings = demo_settings(Settings(data_dir=work / "demo-data", precision="fp32"),
                             argparse.Namespace(clip_model=None, caption_model=None))
    with Engine(settings) as engine:
        engine.index([str(gallery)])
        app = ClipGitApp(engine, show_timings=False)
        async with app.run_test(size=(150, 40)) as pilot:
            while app.model_state != "ready":
                await pilot.pause(0.05)
            await pilot.press(*"a red star and a yellow square", "enter")
            while not app.query_one(SearchPane).results:
                await pilot.pause(0.05)
            await pilot.pause(3.0)  # the preview decodes and the caption is written in the background
            app.save_screenshot(filename="demo.svg", path=str(ROOT / "docs"))


if __name__ == "__main__":
    asyncio.run(main())
