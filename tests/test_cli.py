"""The installed `clipgit-tui` command, run as a user or a script would run it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from clipgit.core.config import Settings
from tests.conftest import cli_env, cli_path, make_photos, photo


def run(settings: Settings, *args: str, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([cli_path(), *args], capture_output=True, text=True, env=env or cli_env(settings),
                          timeout=timeout)


def test_help_is_instant_and_lists_subcommands(settings: Settings) -> None:
    started = time.monotonic()
    out = run(settings, "--help")
    assert out.returncode == 0
    for word in ("index", "search", "similar", "status", "forget"):
        assert word in out.stdout
    assert time.monotonic() - started < 5  # no torch import behind --help
    version = run(settings, "--version")
    assert version.returncode == 0 and version.stdout.startswith("clipgit-tui 0."), version  # not the app


def test_index_search_similar_status_forget_json_contract(settings: Settings, tmp_path: Path) -> None:
    pics = tmp_path / "pics"
    paths = make_photos(pics, 6)
    (pics / "broken.jpg").write_bytes(b"nope")
    out = run(settings, "index", str(pics), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    for key in ("new", "changed", "moved", "removed", "unchanged"):
        assert isinstance(report[key], int)
    assert report["new"] == 6
    assert report["skipped"] == [{"path": str(pics / "broken.jpg"), "reason": report["skipped"][0]["reason"]}]

    out = run(settings, "search", "beach + 2:sunset - people", "--top", "4", "--json")
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    assert len(results) == 4
    assert all(os.path.isabs(r["path"]) and isinstance(r["score"], float) for r in results)
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)

    out = run(settings, "similar", str(paths[2]), "--json")
    results = json.loads(out.stdout)
    assert out.returncode == 0 and len(results) == 5 and str(paths[2]) not in {r["path"] for r in results}

    out = run(settings, "search", str(paths[2]), "--json", "--top", "2")
    assert [r["path"] for r in json.loads(out.stdout)] == [r["path"] for r in results[:2]]

    status = json.loads(run(settings, "status", "--json").stdout)
    assert status["images"] == 6 and status["data_dir"] == str(settings.data_dir)
    assert status["clip_model"] == settings.clip_model and status["folders"][0]["path"] == str(pics)
    scanned = datetime.fromisoformat(status["folders"][0]["last_scan"])  # ISO 8601, as `taken`
    assert scanned.tzinfo is not None and abs(scanned.timestamp() - time.time()) < 600

    out = run(settings, "forget", str(paths[0]))
    assert out.stdout == f"forgot {paths[0]} (1 file; rescans leave it out until you index {paths[0]})\n"
    out = run(settings, "forget", str(pics), "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["forgotten"] == [
        {"path": str(pics), "files": 6, "kept_out": False}]
    assert json.loads(run(settings, "status", "--json").stdout)["images"] == 0


def test_human_output_never_prints_names_raw(settings: Settings, tmp_path: Path) -> None:
    pics = tmp_path / "pics"
    pics.mkdir()
    photo(1).save(pics / "x.png")
    photo(2).save(pics / "evil_\x1b]0;pwned\x07_\x1b[2J.png")
    (pics / "bad_\x1b[31m.jpg").write_bytes(b"")
    index = run(settings, "index", str(pics))
    search = run(settings, "search", "x", "--top", "5")
    for out in (index, search):
        assert out.returncode == 0, out.stderr
        assert "\x1b" not in out.stdout and "\x07" not in out.stdout
    assert "evil_\\x1b]0;pwned\\x07_\\x1b[2J.png" in search.stdout
    assert "bad_\\x1b[31m.jpg: empty file" in index.stdout
    raw = json.loads(run(settings, "search", "x", "--json").stdout)
    assert str(pics / "evil_\x1b]0;pwned\x07_\x1b[2J.png") in {r["path"] for r in raw}


def test_the_app_without_a_terminal_says_so_and_ends(settings: Settings) -> None:
    """Piped or from cron, the app ran blind and never ended, writing screens into the pipe."""
    for args in ((), ("demo",)):
        out = subprocess.run([cli_path(), *args], capture_output=True, text=True, env=cli_env(settings),
                             stdin=subprocess.DEVNULL, timeout=30)
        assert out.returncode == 2 and "needs a terminal" in out.stderr and not out.stdout, args
        assert "\x1b" not in out.stderr


def test_no_results_says_why(settings: Settings, tmp_path: Path) -> None:
    empty = run(settings, "search", "a cat")
    assert empty.returncode == 0 and "library is empty" in empty.stderr and not empty.stdout
    make_photos(tmp_path / "pics", 2)
    assert run(settings, "index", str(tmp_path / "pics")).returncode == 0
    pics, nowhere = tmp_path / "pics", str(tmp_path / "nowhere")
    for args in (("search", "a cat year:1999"), ("search", "a cat", "--ext", "heic"), ("search", "ext:gif"),
                 ("search", "a cat", "--in", nowhere), ("similar", str(pics / "img_0000.png"), "--in", nowhere)):
        out = run(settings, *args)
        assert out.returncode == 0 and not out.stdout, args
        assert out.stderr.strip() == "no results: no indexed image matches these filters", args


def test_bad_usage_exits_2_and_failures_exit_1_with_one_line(settings: Settings, tmp_path: Path) -> None:
    assert run(settings, "search").returncode == 2
    assert run(settings, "search", "x", "--top", "0").returncode == 2
    word = run(settings, "search", "x", "--top", "abc")
    assert word.returncode == 2 and "'abc' is not a whole number" in word.stderr and "_positive" not in word.stderr
    bad_query = run(settings, "search", "   ")
    assert bad_query.returncode == 2 and "Traceback" not in bad_query.stderr
    missing = run(settings, "index", str(tmp_path / "nope"))
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0 and "folder not found" in missing.stderr
    env = cli_env(settings)
    env["CLIPGIT_CLIP_MODEL"] = "openai/clip-vit-base-patch32"
    make_photos(tmp_path / "pics", 1)
    started = time.monotonic()
    offline = run(settings, "index", str(tmp_path / "pics"), env=env)
    assert offline.returncode == 1 and time.monotonic() - started < 30
    line = offline.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "not downloaded" in line and "--clip-model" in line
    fake = tmp_path / "notes.jpg"
    fake.write_text("hello")
    for args in (("similar", str(fake)), ("search", f"{fake} + a cat")):  # which image of the query
        out = run(settings, *args)
        assert out.returncode == 1 and f"error: {fake}: not an image" in out.stderr, out.stderr
    folder = run(settings, "similar", str(tmp_path))
    assert folder.returncode == 2 and f"a folder, not an image: {tmp_path}" in folder.stderr
    nowhere = run(settings, "status", env=dict(cli_env(settings), CLIPGIT_DATA_DIR="/proc/no/data/dir"))
    assert nowhere.returncode == 2 and "cannot use the data dir /proc/no/data/dir" in nowhere.stderr
    bad_dir = run(settings, "search", "x", "--clip-model", str(tmp_path / "no-model-here"))
    assert bad_dir.returncode == 1 and "does not exist" in bad_dir.stderr


def test_settings_precedence_flag_over_env_over_file(settings: Settings, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{tmp_path / "from-file"}"\nbatch_size = 4\n')
    env = cli_env(settings)
    env["CLIPGIT_CONFIG"] = str(config)
    del env["CLIPGIT_DATA_DIR"]
    assert json.loads(run(settings, "status", "--json", env=env).stdout)["data_dir"] == str(tmp_path / "from-file")
    assert run(settings, "status", env=env).stdout.startswith(f"config     {config}\n")  # where to edit it
    assert json.loads(run(settings, "status", "--json", env=env).stdout)["config_exists"]
    env["CLIPGIT_DATA_DIR"] = str(tmp_path / "from-env")
    assert json.loads(run(settings, "status", "--json", env=env).stdout)["data_dir"] == str(tmp_path / "from-env")
    flagged = run(settings, "status", "--json", "--data-dir", str(tmp_path / "from-flag"), env=env)
    assert json.loads(flagged.stdout)["data_dir"] == str(tmp_path / "from-flag")
    config.write_text("no_such_setting = 1\n")
    bad = run(settings, "status", env=env)
    assert bad.returncode == 2 and "no_such_setting" in bad.stderr
    config.write_text('batch_size = "big"\n')  # the message names the setting, not int()'s "invalid literal"
    bad = run(settings, "status", env=env)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "clipgit-tui: error: batch_size must be a whole number, not 'big'"
    config.write_text("")
    bad = run(settings, "status", env=dict(env, CLIPGIT_SERVICE_IDLE="soon"))
    assert bad.returncode == 2 and "service_idle must be a decimal number, not 'soon'" in bad.stderr


@pytest.mark.slow
@pytest.mark.parametrize("signal_after", [8])
def test_kill_9_mid_index_loses_only_the_batch_in_flight(settings: Settings, tmp_path: Path, signal_after: int) -> None:
    import sqlite3

    pics = tmp_path / "pics"
    originals = make_photos(tmp_path / "originals", 60, size=(640, 480))
    for copy in range(5):  # 300 files (copies are indexed like any file): long enough to be caught mid-run
        (pics / f"set{copy}").mkdir(parents=True)
        for p in originals:
            shutil.copy(p, pics / f"set{copy}" / p.name)
    env = cli_env(settings)
    env["CLIPGIT_BATCH_SIZE"] = "2"
    proc = subprocess.Popen([cli_path(), "index", str(pics), "--json"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    db = settings.db_path
    count = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=5) as conn:
                    count = conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]
            except sqlite3.OperationalError:
                count = 0
            if count >= signal_after:
                # status works while another process indexes
                status = run(settings, "status", "--json")
                assert status.returncode == 0 and json.loads(status.stdout)["images"] >= signal_after
                proc.kill()
                break
        time.sleep(0.02)
    proc.wait(30)
    assert proc.returncode == -9, "the index run finished before it could be killed"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        kept = conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    assert 0 < kept < 300
    out = run(settings, "index", str(pics), "--json")
    report = json.loads(out.stdout)
    assert out.returncode == 0
    assert report["unchanged"] + report["new"] == 300 and report["embedded"] == 300 - report["unchanged"]
    assert report["unchanged"] >= kept - 2  # at most the batch in flight was lost
    assert json.loads(run(settings, "status", "--json").stdout)["images"] == 300
