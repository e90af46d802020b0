"""Capture dates, cameras and filters: read at index time, applied before the top-k, by engine, CLI and app."""

from __future__ import annotations

import json
import os
import subprocess
import time
from calendar import timegm
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from clipgit.core.config import Settings
from clipgit.core.decode.photo_facts import photo_facts
from clipgit.core.engine import Engine
from clipgit.core.errors import QueryError
from clipgit.core.search.filters import split_filters
from tests.conftest import cli_env, cli_path
from tests.helpers import save


def local(*args: int) -> float:
    year, month, day, hour, minute, second = (*args, 0, 0, 0)[:6]  # a date alone: its midnight
    return time.mktime((year, month, day, hour, minute, second, 0, 0, -1))


@pytest.fixture
def dated(tmp_path: Path) -> Path:
    pics = tmp_path / "pics"
    (pics / "sub").mkdir(parents=True)
    save(pics / "a.jpg", 1, when="2023:05:01 10:00:00", offset="+02:00", make="Google", model="Pixel 8", gps=True)
    save(pics / "b.jpg", 2, when="2024:07:10 12:00:00", make="Canon", model="Canon EOS R5")
    save(pics / "c.jpg", 3, mtime=local(2022, 1, 15, 9, 0, 0))  # no EXIF: the file's date
    broken = save(pics / "d.jpg", 4, mtime=local(2021, 3, 3, 9, 0, 0))
    data = broken.read_bytes()
    garbage = b"Exif\0\0" + b"MM\0*\xff\xff\xff\xff" + os.urandom(40)
    broken.write_bytes(data[:2] + b"\xff\xe1" + (len(garbage) + 2).to_bytes(2, "big") + garbage + data[2:])
    os.utime(broken, (local(2021, 3, 3, 9, 0, 0),) * 2)
    save(pics / "sub" / "e.png", 5, fmt="PNG", when="2024:06:20 08:00:00")
    return pics


def test_capture_facts_from_files(dated: Path) -> None:
    def facts(name: str) -> Any:
        path = dated / name
        return photo_facts(path.read_bytes(), path.stat().st_mtime_ns)

    a = facts("a.jpg")
    assert a.taken == datetime(2023, 5, 1, 10, tzinfo=timezone(timedelta(hours=2))).timestamp()
    assert (a.taken_from, a.camera, a.gps) == ("exif", "Google Pixel 8", True)
    b = facts("b.jpg")  # no offset: the camera's clock, read in this machine's zone
    assert (b.taken, b.taken_from, b.camera, b.gps) == (local(2024, 7, 10, 12, 0, 0), "exif-local", "Canon EOS R5",
                                                        False)
    assert (facts("c.jpg").taken, facts("c.jpg").taken_from) == (local(2022, 1, 15, 9, 0, 0), "mtime")
    assert (facts("d.jpg").taken, facts("d.jpg").taken_from) == (local(2021, 3, 3, 9, 0, 0), "mtime")  # broken
    e = facts("sub/e.png")
    assert (e.taken, e.taken_from) == (local(2024, 6, 20, 8, 0, 0), "exif-local")


def test_filter_syntax() -> None:
    words, f = split_filters('red car after:2024-06-01 camera:"pixel 8" ext:PNG,.jpg year:2023 in:/tmp/x/')
    assert words == "red car" and f.camera == "pixel 8" and f.ext == ("png", "jpg") and f.folder == "/tmp/x"
    # on the photos' own clocks: the day's seconds counted as if that clock were UTC (see Filters)
    assert (f.after, f.before) == (timegm((2023, 1, 1, 0, 0, 0)), timegm((2024, 1, 1, 0, 0, 0)))  # year: wins
    assert split_filters("before:2024-09")[1].before == timegm((2024, 9, 1, 0, 0, 0))
    assert split_filters("t-shirt afterparty")[1].active is False  # words that only look like filters
    for bad in ("after:2024-13", "year:23", "before:yesterday", "after:2024-02-30"):
        with pytest.raises(QueryError):
            split_filters(bad)


def names(results: list[Any]) -> list[str]:
    return [os.path.basename(r.path) for r in results]


def test_filters_narrow_before_the_top_k_browse_and_sort(engine: Engine, dated: Path) -> None:
    report = engine.index([str(dated)])
    assert report.embedded == 5
    assert names(engine.search("year:2023")) == ["a.jpg"]
    assert names(engine.search("after:2024-06-01", top=50)) == ["b.jpg", "e.png"]  # browse: newest first
    assert names(engine.search("before:2023")) == ["c.jpg", "d.jpg"]
    assert names(engine.search("camera:canon")) == ["b.jpg"] and names(engine.search("camera:PIXEL")) == ["a.jpg"]
    assert names(engine.search("ext:png")) == ["e.png"] and names(engine.search(f"in:{dated / 'sub'}")) == ["e.png"]
    assert names(engine.search("after:2024-06-01", sort="name")) == ["b.jpg", "e.png"]
    # a filtered search is the best matches inside the filter, not a filtered top-k
    everything = names(engine.search("a red bicycle", top=10))
    inside = [n for n in everything if n in ("b.jpg", "e.png")]
    assert names(engine.search("a red bicycle after:2024-06-01", top=1)) == inside[:1]
    assert names(engine.search("a red bicycle", top=5, sort="name")) == sorted(everything[:5])
    by_date = engine.search("a red bicycle", top=5, sort="date")
    taken = [r.taken for r in by_date if r.taken is not None]
    assert len(taken) == len(by_date) and taken == sorted(taken, reverse=True)
    assert engine.search("year:2023")[0].camera == "Google Pixel 8"
    with pytest.raises(QueryError):
        engine.search("red", sort="colour")


def test_an_older_library_fills_in_its_facts_on_rescan_without_embedding(engine: Engine, dated: Path) -> None:
    engine.index([str(dated)])
    cat = engine.catalog()
    with cat.transaction():
        cat.conn.execute("UPDATE images SET taken = NULL, taken_from = NULL, camera = NULL, gps = NULL")
    assert engine.search("year:2023") == []
    again = engine.index([str(dated)])
    assert again.embedded == 0 and again.unchanged == 5
    assert names(engine.search("year:2023")) == ["a.jpg"]
    assert engine.index([str(dated)]).unchanged == 5  # and now nothing is read at all


def test_filters_and_sort_from_the_command_line(settings: Settings, dated: Path) -> None:
    env = cli_env(settings)
    subprocess.run([cli_path(), "index", str(dated), "-q"], env=env, check=True, capture_output=True)

    def run(*args: str) -> Any:
        out = subprocess.run([cli_path(), "search", *args, "--json"], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    one = run("year:2023")
    assert [os.path.basename(r["path"]) for r in one] == ["a.jpg"] and one[0]["camera"] == "Google Pixel 8"
    assert one[0]["taken"].startswith("2023-05-01") and one[0]["mode"] == "browse"
    flagged = run("a red bicycle", "--after", "2024-06-01", "--ext", "jpg")
    assert [os.path.basename(r["path"]) for r in flagged] == ["b.jpg"]
    assert [os.path.basename(r["path"]) for r in run("--camera", "canon", "x", "--sort", "name")] == ["b.jpg"]
    bad = subprocess.run([cli_path(), "search", "red", "--after", "June"], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1 and "not a date" in bad.stderr


async def test_filters_sort_and_dates_in_the_app(engine: Engine, dated: Path) -> None:
    from textual.widgets import Input, Static

    from clipgit.tui.app import ClipGitApp
    from clipgit.tui.panes.search import SearchPane, result_prompt
    from tests.helpers import plain, plain_prompt, wait_for

    engine.index([str(dated)])
    app = ClipGitApp(engine)
    async with app.run_test(size=(150, 45)) as pilot:
        await wait_for(pilot, lambda: app.model_state == "ready")
        await pilot.press(*"after:2024-06-01", "enter")
        pane = app.query_one(SearchPane)
        await wait_for(pilot, lambda: names(pane.results) == ["b.jpg", "e.png"])
        assert "2024-07-10" in plain_prompt(result_prompt(pane.results[0], None))
        await wait_for(pilot, lambda: "camera" in plain(app.query_one("#meta", Static)))
        meta = plain(app.query_one("#meta", Static))
        assert "2024-07-10 12:00 (camera clock)" in meta and "Canon EOS R5" in meta
        await pilot.press("t", "t")  # score -> date -> name
        assert app.sort == "name"
        await pilot.press("slash")
        app.query_one("#query", Input).value = "a red bicycle year:2023"
        await pilot.press("enter")
        await wait_for(pilot, lambda: names(pane.results) == ["a.jpg"])
