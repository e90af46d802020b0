"""The live library: new, changed and deleted files are picked up within seconds, by the app and `index --watch`."""

from __future__ import annotations

import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from clipgit.core.config import Settings
from clipgit.core.engine import Engine
from clipgit.core.ingest.watch import watch_folders
from clipgit.tui.app import ClipGitApp
from tests.conftest import cli_env, cli_path, make_photos, photo
from tests.helpers import wait_for


def test_the_watcher_names_the_folders_whose_images_changed(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    cancel, seen = threading.Event(), queue.Queue[list[str]]()

    def watch() -> None:
        for folders in watch_folders([str(a), str(b)], cancel, debounce_ms=300):
            seen.put(folders)

    thread = threading.Thread(target=watch)
    thread.start()
    try:
        time.sleep(0.5)
        (b / "notes.txt").write_text("not an image")
        photo(1).save(b / "new.png")
        assert seen.get(timeout=10) == [str(b)]
        (b / "new.png").unlink()
        assert seen.get(timeout=10) == [str(b)]
        (a / "notes.txt").write_text("still not an image")
        time.sleep(1.0)
        assert seen.empty()
    finally:
        cancel.set()
        thread.join(10)
    assert not thread.is_alive()


async def test_the_open_app_indexes_new_and_deleted_files(engine: Engine, tmp_path: Path) -> None:
    pics = tmp_path / "pics"
    make_photos(pics, 3)
    engine.index([str(pics)])
    app = ClipGitApp(engine)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for(pilot, lambda: app.model_state == "ready" and app.images == 3 and bool(app.library.watched))
        await pilot.pause(1.5)  # the watcher's thread has started it
        make_photos(pics, 2, start=3)
        await wait_for(pilot, lambda: app.images == 5, timeout=20)
        (pics / "img_0000.png").unlink()
        await wait_for(pilot, lambda: app.images == 4, timeout=20)


def test_index_watch_from_the_command_line(settings: Settings, tmp_path: Path) -> None:
    pics = tmp_path / "pics"
    make_photos(pics, 2)
    # Ctrl-C as a terminal sends it, even where the test run itself was started with SIGINT ignored (a
    # shell's background job): an ignored SIGINT is inherited, and the CLI rightly keeps ignoring it
    proc = subprocess.Popen([cli_path(), "index", str(pics), "--watch", "-q"], env=cli_env(settings),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: queue.Queue[str] = queue.Queue()
    try:
        assert proc.stdout is not None and proc.stderr is not None
        stdout = proc.stdout

        def read() -> None:
            for line in stdout:
                lines.put(line)

        threading.Thread(target=read, daemon=True).start()
        assert lines.get(timeout=60).startswith("new 2,")
        assert "watching 1 folder" in proc.stderr.readline()
        time.sleep(1.5)  # the watcher starts just after it says so
        make_photos(pics, 1, start=7)
        line = lines.get(timeout=30)
        assert line.startswith("new 1,") and "unchanged 2" in line, line
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "stopped watching" in err
    assert "KeyboardInterrupt" not in err, err  # watchfiles' own warning, through logging's last resort


def test_network_shares_are_polled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins
    import io

    import watchfiles

    from clipgit.core.ingest import watch

    real_open = builtins.open
    mounts = f"server:/photos {tmp_path} nfs4 rw 0 0\n/dev/sda1 / ext4 rw 0 0\n"
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: io.StringIO(mounts) if f == "/proc/mounts"
                        else real_open(f, *a, **k))
    assert watch.on_network_share(str(tmp_path / "x")) and not watch.on_network_share("/home")
    asked: list[object] = []

    def fake_watch(*roots: str, **options: object) -> list[object]:
        asked.append(options["force_polling"])
        return []

    monkeypatch.setattr(watchfiles, "watch", fake_watch)
    assert list(watch_folders([str(tmp_path)], threading.Event())) == [] and asked == [True]
