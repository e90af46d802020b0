"""Places from EXIF GPS in the library: read at index time (our JPEG reader and Pillow's for other formats), the
`place:` and `country:` filters (any case, accents ignored, the city around a district), filters alone browse,
the JSON's `place`, `status --json`'s count, a library indexed before filling places on its next rescan without
embedding again, and malformed GPS never stopping an index run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL.TiffImagePlugin import IFDRational

from clipgit.core.decode.photo_facts import photo_facts
from clipgit.core.engine import Engine
from clipgit.core.search.filters import split_filters
from tests.conftest import cli_env, cli_path
from tests.helpers import LISBON, gps_photo

ZURICH = (47.3769, 8.5417)
TOKYO = (35.6812, 139.7671)


@pytest.fixture
def places_library(engine: Engine, tmp_path: Path) -> Path:
    pics = tmp_path / "pics"
    pics.mkdir()
    gps_photo(pics / "zurich.jpg", 1, ZURICH)
    gps_photo(pics / "lisbon.png", 2, LISBON, fmt="PNG")
    gps_photo(pics / "tokyo.jpg", 3, TOKYO)
    gps_photo(pics / "nowhere.jpg", 4, None)
    gps_photo(pics / "zero.jpg", 5, None, raw={1: "N", 2: (IFDRational(0), IFDRational(0), IFDRational(0)),
                                               3: "E", 4: (IFDRational(0), IFDRational(0), IFDRational(0))})
    gps_photo(pics / "broken.jpg", 6, None, raw={1: "Q", 2: (IFDRational(200), IFDRational(70), IFDRational(0)),
                                                 3: "E", 4: (IFDRational(1, 0),)})
    report = engine.index([str(pics)])
    assert report.new == 6 and not report.skipped
    return pics


def _names(results: list[Any]) -> list[str]:
    return sorted(Path(r.path).name for r in results)


def test_our_jpeg_reader_and_pillow_read_the_same_position(tmp_path: Path) -> None:
    jpeg = photo_facts(gps_photo(tmp_path / "a.jpg", 1, LISBON).read_bytes(), 0)
    png = photo_facts(gps_photo(tmp_path / "a.png", 1, LISBON, fmt="PNG").read_bytes(), 0)
    assert jpeg.lat == pytest.approx(LISBON[0], abs=1e-4) and jpeg.lon == pytest.approx(LISBON[1], abs=1e-4)
    assert (png.lat, png.lon) == pytest.approx((jpeg.lat, jpeg.lon))
    assert photo_facts(gps_photo(tmp_path / "b.jpg", 1, None).read_bytes(), 0).lat is None


def test_place_and_country_filters(engine: Engine, places_library: Path) -> None:
    assert _names(engine.search("place:zurich")) == ["zurich.jpg"]  # Zürich, accents ignored
    assert _names(engine.search("place:ZÜRICH")) == ["zurich.jpg"]
    assert _names(engine.search("place:lisbon")) == ["lisbon.png"]  # the city around the district
    assert _names(engine.search("place:baixa")) == ["lisbon.png"]
    assert _names(engine.search("country:pt")) == ["lisbon.png"]
    assert _names(engine.search("country:portugal")) == ["lisbon.png"]
    assert _names(engine.search("country:japan")) == ["tokyo.jpg"]
    assert _names(engine.search('place:"new york"')) == []
    hits = engine.search("place:tokyo")
    assert [r.mode for r in hits] == ["browse"]
    assert hits[0].place is not None and hits[0].place["country_code"] == "JP"
    assert hits[0].as_dict()["place"] == {k: hits[0].place[k] for k in ("city", "region", "country",
                                                                         "country_code", "lat", "lon")}
    # the photo's own position, not the town's entry in the place data
    assert (hits[0].place["lat"], hits[0].place["lon"]) == pytest.approx(TOKYO, abs=1e-4)
    # `gps:yes`: a usable position; void, zero and malformed tags are none
    assert _names(engine.search("gps:yes")) == ["lisbon.png", "tokyo.jpg", "zurich.jpg"]
    nowhere = [r for r in engine.search("ext:jpg", top=10) if Path(r.path).name != "tokyo.jpg"]
    assert all(r.as_dict()["place"] is None for r in nowhere if "zurich" not in r.path)
    assert split_filters('red place:"new york" country:pt')[1].place == ("new york",)


def test_cli_flags_and_status(places_library: Path, engine: Engine) -> None:
    env = cli_env(engine.settings)
    out = subprocess.run([cli_path(), "search", "--country", "ch", "--json"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert [Path(r["path"]).name for r in found] == ["zurich.jpg"]
    assert found[0]["place"]["country_code"] == "CH" and found[0]["text"] is None
    status = subprocess.run([cli_path(), "status", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert json.loads(status.stdout)["places"] == 3


def test_backfill_on_rescan_without_embedding_again(engine: Engine, places_library: Path) -> None:
    cat = engine.catalog()
    seqs = dict(cat.conn.execute("SELECT image_id, seq FROM embeddings"))
    # a library indexed before places were kept: columns empty, and migration 7 forgot the facts of GPS photos
    cat.conn.execute("UPDATE images SET place_city = NULL, place_locality = NULL, place_region = NULL, "
                     "place_country = NULL, place_cc = NULL, place_lat = NULL, place_lon = NULL")
    cat.conn.execute("UPDATE images SET taken_from = NULL WHERE gps = 1")
    assert engine.search("place:zurich") == []
    report = engine.index([str(places_library)])
    assert report.embedded == 0 and report.unchanged == 6
    assert dict(cat.conn.execute("SELECT image_id, seq FROM embeddings")) == seqs
    assert _names(engine.search("place:zurich")) == ["zurich.jpg"]
    assert cat.place_count() == 3


def test_a_library_from_before_gets_photo_positions_and_true_gps_flags_on_rescan(engine: Engine,
                                                                               places_library: Path) -> None:
    """Schema 8 read places' coordinates from the town and flagged any GPS tags as `gps`: a library from then
    is put right by its next rescan, nothing embedded again."""
    from clipgit.core.store.migrations import SCHEMA_VERSION, migrate

    cat = engine.catalog()
    cat.conn.execute("UPDATE images SET gps = 1, place_lat = round(place_lat), place_lon = round(place_lon)")
    cat.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    migrate(cat.conn)
    report = engine.index([str(places_library)])
    assert report.embedded == 0 and report.unchanged == 6
    assert _names(engine.search("gps:yes")) == ["lisbon.png", "tokyo.jpg", "zurich.jpg"]
    (zurich,) = engine.search("place:zurich")
    assert zurich.place is not None and (zurich.place["lat"], zurich.place["lon"]) == pytest.approx(ZURICH, abs=1e-4)


def test_a_photo_far_from_any_town_keeps_its_position(engine: Engine, tmp_path: Path) -> None:
    """At sea: `gps:yes`, counted among places, the position in the JSON; no name matches it."""
    pics = tmp_path / "sea"
    pics.mkdir()
    gps_photo(pics / "atlantic.jpg", 9, (30.0, -40.0))
    engine.index([str(pics)])
    (found,) = engine.search("gps:yes")
    assert found.as_dict()["place"] == {"city": "", "region": "", "country": "", "country_code": "", "lat": 30.0,
                                        "lon": -40.0}
    assert engine.search("place:atlantic") == [] and engine.status().places == 1
