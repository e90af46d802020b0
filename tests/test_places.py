"""Places from EXIF GPS: capitals found by name from their centres, towns, malformed GPS, name matching."""

from __future__ import annotations

import io
import math
import socket
from fractions import Fraction
from typing import Any

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from clipgit.core.models.places import Place, gps_from_exif, place_matches, place_of, places_of

# The centres of capitals (a square, a palace, a station), where GeoNames' nearest place is often a district
CAPITALS = {
    "Paris": (48.8530, 2.3499, "FR"),  # Notre-Dame
    "London": (51.5080, -0.1281, "GB"),  # Trafalgar Square
    "Lisbon": (38.7077, -9.1366, "PT"),  # Praça do Comércio: nearest is Baixa
    "Tokyo": (35.6812, 139.7671, "JP"),  # Tokyo Station: nearest is Hatchōbori
    "Washington": (38.8899, -77.0091, "US"),  # the Capitol
    "Berlin": (52.5163, 13.3777, "DE"),  # Brandenburg Gate: nearest is Tiergarten
    "Madrid": (40.4169, -3.7035, "ES"),  # Puerta del Sol: nearest is Sol
    "Rome": (41.8902, 12.4922, "IT"),  # the Colosseum
    "Canberra": (-35.2809, 149.1300, "AU"),  # nearest is Canberra City
    "Zürich": (47.3717, 8.5423, "CH"),  # nearest is "Zürich (Kreis 1) / ..."
    "Mexico City": (19.4326, -99.1332, "MX"),  # the Zócalo
}


@pytest.mark.parametrize("city", sorted(CAPITALS))
def test_a_capitals_centre_is_found_by_the_capitals_name(city: str) -> None:
    lat, lon, code = CAPITALS[city]
    place = place_of(lat, lon)
    assert place is not None and place.country_code == code
    assert place.city == city, place
    assert place_matches(place, city) and place_matches(place, city.upper())


def test_the_nearest_district_is_kept_as_the_locality_and_matches_too() -> None:
    place = place_of(38.7077, -9.1366)
    assert place is not None
    assert place == Place("Lisbon", "Lisbon", "Portugal", "PT", 38.7077, -9.1366, "Baixa")  # the point's own
    assert place_matches(place, "baixa") and place_matches(place, "lisbon") and place_matches(place, "portugal")
    belem = place_of(38.6979, -9.2063)  # 6 km west of the centre, still Lisbon
    assert belem is not None and belem.city == "Lisbon" and belem.locality != "Lisbon"


@pytest.mark.parametrize(("lat", "lon", "city", "region"), [
    (51.7520, -1.2577, "Oxford", "England"),
    (38.8029, -9.3817, "Sintra", "Lisbon"),
    (46.2044, 6.1432, "Genève", "Geneva"),  # GeoNames' own name; "geneva" still matches, through the region
    (35.5308, 139.7029, "Kawasaki", "Kanagawa"),  # a city of its own between Tokyo and Yokohama: not "Tokyo"
    (29.9870, 31.2118, "Giza", "Giza"),  # across the Nile from Cairo, another governorate
])
def test_ordinary_towns_and_neighbouring_cities_keep_their_own_names(lat: float, lon: float, city: str,
                                                                   region: str) -> None:
    place = place_of(lat, lon)
    assert place is not None and (place.city, place.region) == (city, region)
    assert place_matches(place, city) and place_matches(place, region)


def test_a_city_across_a_border_is_not_taken_as_the_city_around() -> None:
    vatican = place_of(41.9029, 12.4534)
    assert vatican is not None and vatican.country_code == "VA" and vatican.city != "Rome"
    rosslyn = place_of(38.8966, -77.0719)  # Virginia, across the Potomac from Washington
    assert rosslyn is not None and rosslyn.region == "Virginia" and rosslyn.city != "Washington"


def test_far_from_any_place_invalid_and_antimeridian_points() -> None:
    sea = place_of(30.0, -40.0)  # mid-Atlantic: the position, no names; no name query matches it
    assert sea == Place("", "", "", "", 30.0, -40.0, "")
    assert not any(place_matches(sea, q) for q in ("atlantic", "country:pt", "", "country:"))
    for lat, lon in [(91, 0), (0, 181), (math.nan, 0), (0, math.inf), ("1", 2), (True, 3)]:
        assert place_of(lat, lon) is None  # type: ignore[arg-type]
    fiji = place_of(-16.8, 179.99)
    assert fiji is not None and fiji.country_code == "FJ"
    assert place_of(-16.8, -179.99) is not None  # the other side of the antimeridian: still found


def test_batch_lookup_agrees_with_single_and_is_fast() -> None:
    import time

    points = [(lat, lon) for lat, lon, _ in CAPITALS.values()] * 100 + [(math.nan, 0.0)]
    start = time.perf_counter()
    many = places_of(points)
    assert time.perf_counter() - start < 1.0
    assert many[: len(CAPITALS)] == [place_of(lat, lon) for lat, lon in points[: len(CAPITALS)]]
    assert many[-1] is None


def test_lookups_never_touch_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("network used")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert place_of(48.8530, 2.3499) is not None


def _ifd(lat: Any, lat_ref: Any, lon: Any, lon_ref: Any) -> dict[int, Any]:
    return {1: lat_ref, 2: lat, 3: lon_ref, 4: lon}


def test_gps_from_a_real_exif_block() -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8825).update(_ifd((IFDRational(38), IFDRational(42), IFDRational(2772, 100)), "N",
                                     (IFDRational(9), IFDRational(8), IFDRational(1176, 100)), "W"))
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG", exif=exif.tobytes())
    gps = Image.open(io.BytesIO(buf.getvalue())).getexif().get_ifd(0x8825)
    lat, lon = gps_from_exif(gps) or (0.0, 0.0)
    assert lat == pytest.approx(38.7077, abs=1e-4) and lon == pytest.approx(-9.1366, abs=1e-4)
    assert place_matches(place_of(lat, lon), "lisbon")


@pytest.mark.parametrize(("gps", "expected"), [
    (_ifd(((40, 1), (30, 1), (0, 1)), "N", ((73, 1), (59, 1), (0, 1)), "W"), (40.5, -73.98333)),  # (num, den)
    (_ifd((33.5,), b"S\x00", 151.2, "e"), (-33.5, 151.2)),  # one value, bytes ref, lower case
    (_ifd([Fraction(10)], "N", [Fraction(3, 2), 30], "E"), (10.0, 2.0)),  # degrees + minutes
    ({"GPSLatitudeRef": "N", "GPSLatitude": (48, 51, 24), "GPSLongitudeRef": "E", "GPSLongitude": (2, 21, 8)},
     (48.85667, 2.35222)),  # tag names instead of numbers
])
def test_gps_odd_but_usable_forms(gps: dict[Any, Any], expected: tuple[float, float]) -> None:
    assert gps_from_exif(gps) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("gps", [
    None, {}, 42, "N", [1, 2],
    _ifd((IFDRational(1, 0), 0, 0), "N", (1, 2, 3), "E"),  # zero denominator (nan)
    _ifd(((40, 1), (30, 0), (0, 1)), "N", (1, 2, 3), "E"),  # zero denominator in a pair
    _ifd(0, "N", 0, "E"),  # null island
    _ifd((0, 0, 0), "N", (0, 0, 0), "E"),
    _ifd((91, 0, 0), "N", (1, 2, 3), "E"),  # out of range
    _ifd((10, 0, 0), "N", (181, 0, 0), "E"),
    _ifd((10, 70, 0), "N", (1, 2, 3), "E"),  # minutes past 60
    _ifd((-10, 0, 0), "N", (1, 2, 3), "E"),  # negative part
    _ifd((1, 2, 3, 4), "N", (1, 2, 3), "E"),  # four parts
    _ifd((), "N", (1, 2, 3), "E"),
    _ifd("garbage", "N", (1, 2, 3), "E"),
    _ifd((1, 2, 3), "X", (1, 2, 3), "E"),  # unknown ref
    _ifd((1, 2, 3), None, (1, 2, 3), "E"),  # missing ref: the hemisphere is unknown
    _ifd((math.inf,), "N", 1, "E"),
    _ifd((1, 2, 3), "N", object(), "E"),
    {9: "V", **_ifd((1, 2, 3), "N", (1, 2, 3), "E")},  # the receiver marked it void
])
def test_gps_malformed_gives_none_never_raises(gps: Any) -> None:
    assert gps_from_exif(gps) is None


def test_place_matching_any_case_accents_words_and_countries() -> None:
    zurich = place_of(47.3717, 8.5423)
    assert zurich is not None
    for query in ("zurich", "Zürich", "ZURICH", "country:ch", "country:CH", "country:switzerland", "Switzerland"):
        assert place_matches(zurich, query), query
    for query in ("zur", "geneva", "country:de", "country:", "", "   "):
        assert not place_matches(zurich, query), query
    paulo = place_of(-23.5505, -46.6333)
    assert paulo is not None and place_matches(paulo, "paulo") and place_matches(paulo, "sao paulo")
    assert not place_matches(paulo, "paulo sao")
    london = place_of(51.5080, -0.1281)
    assert place_matches(london, "country:uk") and place_matches(london, "country:united kingdom")
    assert place_matches(london, "england") and not place_matches(None, "london")
