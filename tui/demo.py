"""`clipgit-tui demo`: a gallery of generated shapes, opened in the app with the demo models.

Why a separate library (DATA_DIR/demo/library): trying the demo must not
mix shape pictures and demo-model vectors into a person's real library.
The gallery is drawn once; later runs reopen it, so the cached vectors and
captions make the second start instant.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

GALLERY_SEED = 2042  # not a training seed (those were 1 and 2); its first 40 pictures hold two red circles
PICTURE_SIDE = 192  # square: the demo CLIP squashes pictures to its 96 x 96, a square keeps its shapes


def gallery_folder(settings: Any, requested: str | None) -> Path:
    if requested:
        return Path(os.path.abspath(os.path.expanduser(requested)))
    return Path(settings.data_dir) / "demo" / "gallery"


def ensure_gallery(folder: Path, count: int) -> bool:
    """Draw the gallery unless the folder already holds one; True when it was drawn now."""
    from clipgit.core.errors import ConfigError
    from clipgit.core.lab.shapes import make_gallery

    if (folder / "captions.jsonl").is_file():
        return False
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"{folder} is not empty and holds no demo gallery; pass a new folder with --dir")
    make_gallery(folder, count, seed=GALLERY_SEED, size=(PICTURE_SIDE, PICTURE_SIDE), two_shape_fraction=0.5)
    return True


def demo_settings(settings: Any, clip_model: str | None = None, caption_model: str | None = None) -> Any:
    """The demo models unless a model was named; captions on; a library of its own."""
    from clipgit.core.config import DEMO

    return settings.with_(data_dir=settings.data_dir / "demo" / "library", clip_model=clip_model or DEMO,
                          caption_model=caption_model or DEMO, captions=True)


def demo(settings: Any, args: argparse.Namespace) -> int:
    from clipgit.core.config import private_data_dir

    private_data_dir(Path(settings.data_dir))  # before the gallery's folders: a new data dir is made 0700
    folder = gallery_folder(settings, args.dir)
    ensure_gallery(folder, args.count)
    from clipgit.tui.run_app import run_app

    return run_app(demo_settings(settings, args.clip_model, args.caption_model), [str(folder)])
