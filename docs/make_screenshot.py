"""Render docs/screenshot.svg (the app on a small generated library) and docs/demo.svg (the app as
`clipgit-tui demo` shows it, with the shipped demo models). Run by hand:

    python docs/make_screenshot.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent


async def main() -> None:
    from textual_image.widget import HalfcellImage

    import clipgit.tui.preview
    from clipgit.core.config import Settings
    from clipgit.core.lab.photos import make_photos
    from clipgit.core.lab.random_models import build_clip, build_git
    from clipgit.tui.demo import demo_settings, ensure_gallery

    clipgit.tui.preview.ImageWidget = HalfcellImage  # colour half-blocks, as in tmux
    work = Path(tempfile.mkdtemp(prefix="clipgit-shot-"))
    pics = Path("/tmp/Pictures/holiday-2025")
    make_photos(pics, 24, size=(400, 300), ext="jpg")
    settings = Settings(data_dir=work / "data", clip_model=str(build_clip(work / "random-weights-clip")),
                        caption_model=str(build_git(work / "random-weights-git")), precision="fp32")
    await shoot(settings, pics, "kids on a beach at sunset", wait_for=24, keys=("j",), settle=2.0,
                filename="screenshot.svg")
    gallery = Path("/tmp/clipgit-demo-gallery")
    ensure_gallery(gallery, 200)
    await shoot(demo_settings(Settings(data_dir=work / "demo-data", precision="fp32")), gallery,
                "a red star and a yellow square", wait_for=1, keys=(), settle=3.0, filename="demo.svg")


async def shoot(settings: Any, folder: Path, query: str, *, wait_for: int, keys: tuple[str, ...], settle: float,
                filename: str) -> None:
    """Index FOLDER, type QUERY, wait for results and for the preview and caption (SETTLE s), save the SVG."""
    from clipgit.core.engine import Engine
    from clipgit.tui.app import ClipGitApp
    from clipgit.tui.panes.search import SearchPane

    with Engine(settings) as engine:
        engine.index([str(folder)])
        app = ClipGitApp(engine, show_timings=False)
        async with app.run_test(size=(150, 40)) as pilot:
            while app.model_state != "ready":
                await pilot.pause(0.05)
            await pilot.press(*query, "enter")
            while len(app.query_one(SearchPane).results) < wait_for:
                await pilot.pause(0.05)
            await pilot.press(*keys)
            await pilot.pause(settle)  # the preview decodes and the caption is written in the background
            app.save_screenshot(filename=filename, path=str(ROOT / "docs"))


if __name__ == "__main__":
    asyncio.run(main())
