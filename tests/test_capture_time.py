"""A photo's time is the local time where it was taken: kept with its offset, given back in JSON and shown on
that clock, and filtered by that clock's dates, wherever the library is looked at from."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from clipgit.core.config import Settings
from clipgit.core.decode.photo_facts import iso_time, photo_facts
from clipgit.core.engine import Engine
from clipgit.core.search.filters import split_filters
from clipgit.core.store.migrations import MIGRATIONS
from tests.conftest import cli_env, cli_path
from tests.helpers import save

NEW_YORK = "EST5EDT,M3.2.0,M11.1.0"  # POSIX rules: no time zone database needed
TOKYO = "JST-9"
LOS_ANGELES = "PST8PDT,M3.2.0,M11.1.0"


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Set this process's time zone (Python's and SQLite's localtime both follow TZ after tzset)."""
    def set_zone(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


def names(results: list[Any]) -> list[str]:
    return sorted(os.path.basename(r.path) for r in results)


def test_exif_offset_is_kept_and_given_back(tmp_path: Path, zone: Callable[[str], None]) -> None:
    zone(TOKYO)
    rome = save(tmp_path / "rome.jpg", 1, when="2023:07:14 18:03:00", offset="+02:00")
    bare = save(tmp_path / "bare.jpg", 2, when="2023:07:14 18:03:00")
    facts = photo_facts(rome.read_bytes(), 0)
    assert facts.taken == datetime(2023, 7, 14, 16, 3, tzinfo=UTC).timestamp()  # the instant sorts
    assert (facts.taken_from, facts.taken_offset) == ("exif", 120)
    camera_clock = photo_facts(bare.read_bytes(), 0)
    assert camera_clock.taken_from == "exif-local" and camera_clock.taken_offset == 9 * 60  # read in Tokyo
    zone(NEW_YORK)  # looked at from elsewhere: each photo keeps its own clock
    assert iso_time(facts.taken, facts.taken_offset, facts.taken_from) == "2023-07-14T18:03:00+02:00"
    assert iso_time(camera_clock.taken, camera_clock.taken_offset, "exif-local") == "2023-07-14T18:03:00"
    west = save(tmp_path / "west.jpg", 3, when="2023:01:02 03:04:05", offset="-03:30")
    assert photo_facts(west.read_bytes(), 0).taken_offset == -210


def test_json_and_text_give_the_time_where_the_photo_was_taken(settings: Settings, tmp_path: Path) -> None:
    pics = tmp_path / "pics"
    pics.mkdir()
    save(pics / "rome.jpg", 1, when="2023:07:14 18:03:00", offset="+02:00")
    save(pics / "bare.jpg", 2, when="2023:07:14 18:03:00")
    mtime = datetime(2022, 5, 6, 7, 8, tzinfo=timezone(timedelta(hours=-4))).timestamp()  # New York, summer
    save(pics / "plain.jpg", 3, mtime=mtime)
    env = {**cli_env(settings), "TZ": TOKYO}
    subprocess.run([cli_path(), "index", str(pics), "-q", "--no-service"], env=env, check=True, capture_output=True)
    env["TZ"] = NEW_YORK

    def search(*args: str) -> subprocess.CompletedProcess[str]:
        run = subprocess.run([cli_path(), "search", "year:2023", *args, "--no-service"], env=env,
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return run

    taken = {os.path.basename(r["path"]): r["taken"] for r in json.loads(search("--json").stdout)}
    assert taken == {"rome.jpg": "2023-07-14T18:03:00+02:00", "bare.jpg": "2023-07-14T18:03:00"}
    assert search().stdout.count("2023-07-14 18:03  ") == 2  # not 12:03, New York's clock at that instant
    run = subprocess.run([cli_path(), "search", "year:2022", "--json", "--no-service"], env=env,
                         capture_output=True, text=True)
    assert [r["taken"] for r in json.loads(run.stdout)] == ["2022-05-06T07:08:00-04:00"]  # this machine's zone


def test_year_and_days_are_the_photos_own(engine: Engine, tmp_path: Path, zone: Callable[[str], None]) -> None:
    pics = tmp_path / "pics"
    pics.mkdir()
    save(pics / "athens.jpg", 1, when="2023:12:31 23:30:00", offset="+02:00")  # Tokyo: 2024-01-01 06:30
    save(pics / "lima.jpg", 2, when="2024:01:01 00:30:00", offset="-05:00")  # Los Angeles: 2023-12-31 21:30
    zone(TOKYO)
    save(pics / "plain.jpg", 3, mtime=time.mktime((2024, 1, 1, 0, 30, 0, 0, 0, -1)))  # no EXIF: Tokyo's clock
    assert engine.index([str(pics)]).embedded == 3
    for place in (TOKYO, LOS_ANGELES, "UTC"):
        zone(place)
        # a file's date is this machine's clock, as ever: 2023-12-31 in Los Angeles and UTC
        mtime_2023 = [] if place == TOKYO else ["plain.jpg"]
        assert names(engine.search("year:2023", top=10)) == ["athens.jpg", *mtime_2023], place
        assert names(engine.search("before:2024-01-01", top=10)) == ["athens.jpg", *mtime_2023], place
        assert names(engine.search("after:2024-01-01", top=10)) == ["lima.jpg"] + (["plain.jpg"] if place == TOKYO
                                                                                  else []), place
    zone(TOKYO)
    assert names(engine.search("year:2024", top=10)) == ["lima.jpg", "plain.jpg"]
    assert names(engine.search("after:2023-12-31 before:2024-01-01", top=10)) == ["athens.jpg"]
    assert split_filters("year:2023")[1].after == datetime(2023, 1, 1, tzinfo=UTC).timestamp()


def test_an_older_library_gets_its_offsets_on_rescan_without_embedding(settings: Settings, tmp_path: Path) -> None:
    pics = tmp_path / "pics"
    pics.mkdir()
    save(pics / "rome.jpg", 1, when="2023:07:14 18:03:00", offset="+02:00")
    save(pics / "plain.jpg", 2)
    with Engine(settings) as engine:
        engine.index([str(pics)])
    db = sqlite3.connect(settings.db_path)
    seqs = db.execute("SELECT image_id, seq FROM embeddings ORDER BY image_id").fetchall()
    # the library as the code before offsets left it: no column, the EXIF row read
    ours = next(i for i, script in enumerate(MIGRATIONS) if "taken_offset" in script)
    db.execute("ALTER TABLE images DROP COLUMN taken_offset")
    for later in ("TRIGGER embeddings_stats_add", "TRIGGER embeddings_stats_remove", "TABLE vector_stats"):
        db.execute(f"DROP {later}")  # what the migrations after this one made
    for later in ("TRIGGER ocr_texts_stale", "TABLE IF EXISTS ocr_fts", "TABLE ocr_texts", "INDEX images_place_cc"):
        db.execute(f"DROP {later}")
    for column in ("city", "locality", "region", "country", "cc", "lat", "lon"):
        db.execute(f"ALTER TABLE images DROP COLUMN place_{column}")
    db.execute(f"PRAGMA user_version = {ours}")
    db.commit()
    db.close()
    with Engine(settings) as engine:
        (before,) = engine.search("year:2023")
        assert before.taken_from is None and before.taken_offset is None  # to be read again
        report = engine.index([str(pics)])
        assert report.embedded == 0 and report.unchanged == 2
        (after,) = engine.search("year:2023")
        assert after.as_dict()["taken"] == "2023-07-14T18:03:00+02:00" and after.taken_from == "exif"
    db = sqlite3.connect(settings.db_path)
    assert db.execute("SELECT image_id, seq FROM embeddings ORDER BY image_id").fetchall() == seqs
    assert db.execute("SELECT taken_from FROM images ORDER BY path").fetchall() == [("mtime",), ("exif",)]
    db.close()


def test_the_app_shows_the_photos_clock(zone: Callable[[str], None]) -> None:
    from clipgit.core.search.searcher import SearchResult
    from clipgit.tui.format import taken
    from clipgit.tui.panes.search import result_prompt

    zone(NEW_YORK)
    instant = datetime(2023, 12, 31, 21, 30, tzinfo=UTC).timestamp()  # 16:30 in New York
    athens = SearchResult(1, "/p/athens.jpg", 0.3, 8, 8, 100, 0, taken=instant, taken_from="exif", taken_offset=120)
    assert taken(athens) == "2023-12-31 23:30 +02:00"
    assert "2023-12-31" in result_prompt(athens, None).plain
    camera = SearchResult(2, "/p/c.jpg", 0.3, 8, 8, 100, 0, taken=instant, taken_from="exif-local", taken_offset=540)
    assert taken(camera) == "2024-01-01 06:30 (camera clock)"  # as the camera wrote it (read in Tokyo)
    assert "2024-01-01" in result_prompt(camera, None).plain
    old = SearchResult(3, "/p/o.jpg", 0.3, 8, 8, 100, 0, taken=instant, taken_from=None)  # not read again yet
    assert taken(old) == "2023-12-31 16:30"
