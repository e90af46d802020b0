"""The installed `clipgit-tui` in a real terminal (tmux): type a query, read the screen, quit."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from clipgit.core.config import Settings
from clipgit.core.engine import Engine
from tests.conftest import cli_env, cli_path, make_photos
from tests.helpers import wait_exit, wait_screen

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("tmux") is None and not os.environ.get("CI"),
                                reason="tmux is not installed (CI installs it)")]


def _open_app(env: dict[str, str], marker: Path) -> str:
    """The installed app in a new tmux session (150 x 40); its exit code lands in MARKER. Returns the session."""
    session = f"clipgit-{uuid.uuid4().hex[:8]}"
    # pass the settings on the command line: a tmux server that is already running would not see `env`
    exports = " ".join(f"{k}={shlex.quote(env[k])}" for k in env if k.startswith(("CLIPGIT_", "HF_")))
    # -u: a tmux server started from a pytest-xdist worker holds its COLUMNS=80 and LINES=24 (see conftest)
    script = (f"env -u COLUMNS -u LINES {exports} TERM=xterm-256color {shlex.quote(cli_path())}; "
              f"echo $? > {shlex.quote(str(marker))}")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "150", "-y", "40", script],
                   env=dict(env, TERM="xterm-256color"), check=True)
    return session


def test_type_a_query_see_results_and_quit(settings: Settings, tmp_path: Path) -> None:
    pics = tmp_path / "pics"
    make_photos(pics, 6, ext="jpg")
    with Engine(settings) as engine:
        engine.index([str(pics)])
        expected = [os.path.basename(r.path) for r in engine.search("sunset", top=6)]
    marker = tmp_path / "exit-code"
    session = _open_app(cli_env(settings), marker)
    try:
        wait_screen(session, lambda s: "6 images" in s and "cpu" in s)
        subprocess.run(["tmux", "send-keys", "-t", session, "sunset"], check=True)
        screen = wait_screen(session, lambda s: "6 results" in s and expected[0] in s)
        rows = [line for line in screen.splitlines() if "img_" in line]
        first_row = next(i for i, line in enumerate(rows) if any(name in line for name in expected))
        assert expected[0] in rows[first_row]
        for key in ("Down", "Enter"):  # at a person's pace
            subprocess.run(["tmux", "send-keys", "-t", session, key], check=True)
            time.sleep(0.3)
        screen = wait_screen(session, lambda s: "match" in s and "pixels" in s and "o Open" in s)  # detail
        # the half-block preview keeps the picture's 4:3: a cell is two square half-cells tall here
        detail = [line.split("│")[-1] for line in screen.splitlines() if line.count("│") >= 2]
        picture = [line for line in detail if "▀▀▀" in line]
        cols = max(len(line.strip()) for line in picture)
        assert abs(cols / (2 * len(picture)) - 96 / 72) < 0.1, (cols, len(picture))
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        wait_exit(session, marker)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_slash_query_enter_q_in_one_burst_quits(settings: Settings, tmp_path: Path) -> None:
    """Typed ahead before the model is ready: `q` lands on the results (not in the box) and the app exits 0."""
    make_photos(tmp_path / "pics", 3, ext="jpg")
    env = cli_env(settings)
    subprocess.run([cli_path(), "index", str(tmp_path / "pics"), "-q"], env=env, check=True, capture_output=True)
    marker = tmp_path / "exit-code"
    session = _open_app(env, marker)
    try:
        wait_screen(session, lambda s: "Results" in s)  # painted; the model may still be loading
        subprocess.run(["tmux", "send-keys", "-t", session, "/a red circle", "Enter", "q"], check=True)
        wait_exit(session, marker)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
