"""The demo models shipped in the package: small, offline, as good as promised, and `clipgit-tui demo` works."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from clipgit.core.config import DEMO_MODELS, Settings
from clipgit.core.engine import Engine
from clipgit.core.lab.shapes import make_gallery
from clipgit.tui.app import ClipGitApp
from clipgit.tui.demo import GALLERY_SEED, PICTURE_SIDE, demo_settings
from tests.conftest import cli_path
from tests.helpers import results, wait_exit, wait_for, wait_screen

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


def demo_engine_settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir).with_(clip_model="demo", caption_model="demo", device="cpu",
                                             precision="fp32")


def captions_of(folder: Path) -> dict[str, str]:
    lines = (folder / "captions.jsonl").read_text(encoding="utf-8").splitlines()
    return {row["image"]: row["caption"] for row in map(json.loads, lines)}


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `clipgit-tui demo` draws (fewer pictures), with some single red circles in it."""
    folder = tmp_path_factory.mktemp("gallery")
    make_gallery(folder, 80, seed=GALLERY_SEED, size=(PICTURE_SIDE, PICTURE_SIDE), two_shape_fraction=0.5)
    assert "a red circle" in captions_of(folder).values()
    return folder


def test_demo_models_ship_in_the_package_as_a_few_mb_of_safetensors() -> None:
    files = [p for p in DEMO_MODELS.rglob("*") if p.is_file()]
    for name in ("clip", "git"):
        assert (DEMO_MODELS / name / "model.safetensors").is_file() and (DEMO_MODELS / name / "config.json").is_file()
    assert not [p for p in files if p.suffix in (".bin", ".pt", ".pth", ".pkl")]
    assert sum(p.stat().st_size for p in files) < 15_000_000
    assert Settings.load(clip_model="demo").clip_model == str(DEMO_MODELS / "clip")
    assert Settings.load(caption_model="demo").caption_model == str(DEMO_MODELS / "git")


@pytest.mark.parametrize("varied", [False, True], ids=["plain", "drawn-other-ways"])
@pytest.mark.parametrize("two_shapes", [False, True], ids=["single", "two"])
def test_demo_models_reach_the_promised_quality_on_fresh_pictures(two_shapes: bool, varied: bool,
                                                                  tmp_path: Path) -> None:
    """Seeds never used in training; the figures the README quotes come from scripts/make_demo_models.py.

    varied: pictures drawn the many ways of shapes.varied_picture (any rotation and aspect ratio, 96 to 300 px
    a side, smaller shapes, outlines, anti-aliasing or not, blur, JPEG artefacts): a red square drawn in any
    editor is still a red square.
    """
    make_gallery(tmp_path / "fresh", 200, seed=9000 + 100 * varied + two_shapes, size=(64, 64),
                 two_shape_fraction=1.0 if two_shapes else 0.0, varied=varied)
    with Engine(demo_engine_settings(tmp_path / "data")) as engine:
        report = [e for e in engine.evaluate_iter(str(tmp_path / "fresh"), captions=not two_shapes)][-1].report
    assert report is not None
    if two_shapes:
        assert report.text_to_image["class_P@1"] >= 0.6
    else:
        assert report.text_to_image["class_P@1"] >= 0.95
        assert report.captioning is not None and report.captioning["exact"] >= 0.9


def test_command_line_answers_a_red_circle_with_a_red_circle(gallery: Path, tmp_path: Path) -> None:
    env = dict(os.environ, CLIPGIT_DATA_DIR=str(tmp_path / "data"), HF_HUB_OFFLINE="1")
    flags = ["--clip-model", "demo", "--caption-model", "demo", "--device", "cpu"]
    subprocess.run([cli_path(), "index", str(gallery), "--captions", "--json", *flags], env=env, check=True,
                   capture_output=True, timeout=300)
    out = subprocess.run([cli_path(), "search", "a red circle", "--json", "-n", "3", *flags], env=env, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    top = json.loads(out)
    assert captions_of(gallery)[os.path.basename(top[0]["path"])] == "a red circle"


async def test_app_answers_a_red_circle_with_a_red_circle(gallery: Path, tmp_path: Path) -> None:
    settings = demo_settings(Settings(data_dir=tmp_path / "data", device="cpu", precision="fp32"))
    with Engine(settings) as engine:
        app = ClipGitApp(engine, [str(gallery)])
        async with app.run_test(size=(140, 45)) as pilot:
            await wait_for(pilot, lambda: not app.library.indexing and engine.status().images == 80, timeout=120)
            await pilot.press(*"a red circle", "enter")
            await wait_for(pilot, lambda: len(results(app)) > 0)
            assert captions_of(gallery)[os.path.basename(results(app)[0])] == "a red circle"
            await pilot.press("q")


@pytest.mark.skipif(shutil.which("tmux") is None and not os.environ.get("CI"),
                    reason="tmux is not installed (CI installs it)")
@pytest.mark.e2e
def test_demo_command_in_a_terminal(tmp_path: Path) -> None:
    """`clipgit-tui demo` as a new user runs it: the gallery appears, is indexed, answers a query."""
    folder = tmp_path / "gallery"
    session = f"clipgit-demo-{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "exit-code"
    script = (f"env -u COLUMNS -u LINES CLIPGIT_DATA_DIR={shlex.quote(str(tmp_path / 'data'))} CLIPGIT_DEVICE=cpu "
              "HF_HUB_OFFLINE=1 "
              f"TERM=xterm-256color {shlex.quote(cli_path())} demo --dir {shlex.quote(str(folder))} --count 40; "
              f"echo $? > {shlex.quote(str(marker))}")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "150", "-y", "40", script], check=True,
                   env=dict(os.environ, TERM="xterm-256color"))
    try:
        wait_screen(session, lambda s: "40 images" in s, timeout=90)
        names = {name for name, caption in captions_of(folder).items() if caption == "a red circle"}
        subprocess.run(["tmux", "send-keys", "-t", session, "a red circle"], check=True)
        screen = wait_screen(session, lambda s: "results" in s and any(n in s for n in names))
        rows = [line for line in screen.splitlines() if "shape_" in line]
        assert rows and any(n in rows[0] for n in names), screen
        subprocess.run(["tmux", "send-keys", "-t", session, "C-q"], check=True)  # quits from the search box
        wait_exit(session, marker)
        assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700  # made private before anything went in it
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
