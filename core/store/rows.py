"""The catalog's rows as the engine reads them: an image (with what its file told: date, camera, place) and a
folder; and the columns they are read from and written to."""

from __future__ import annotations

from dataclasses import dataclass

from clipgit.core.models.places import Place


@dataclass(frozen=True)
class ImageRow:
    id: int
    folder_id: int
    path: str
    size: int
    mtime_ns: int
    fingerprint: bytes | None
    width: int | None
    height: int | None
    error: str | None
    taken: float | None = None
    taken_from: str | None = None  # None: never read since facts were kept (an older library)
    camera: str | None = None
    gps: bool | None = None
    taken_offset: int | None = None  # minutes east of UTC of the clock at capture (see photo_facts.PhotoFacts)
    place_city: str | None = None  # where the photo was taken, from its EXIF GPS (models.places.Place)
    place_locality: str | None = None
    place_region: str | None = None
    place_country: str | None = None
    place_cc: str | None = None
    place_lat: float | None = None
    place_lon: float | None = None

    @property
    def place(self) -> Place | None:
        if self.place_cc is None or self.place_lat is None or self.place_lon is None:
            return None
        return Place(self.place_city or "", self.place_region or "", self.place_country or "", self.place_cc,
                     self.place_lat, self.place_lon, self.place_locality or "")


@dataclass(frozen=True)
class FolderRow:
    id: int
    path: str
    added_at: float
    last_scan: float | None


IMAGE_COLUMNS = ("id, folder_id, path, size, mtime_ns, fingerprint, width, height, error, "
                  "taken, taken_from, camera, gps, taken_offset, place_city, place_locality, place_region, "
                  "place_country, place_cc, place_lat, place_lon")
PLACE_SET = ("place_city = ?, place_locality = ?, place_region = ?, place_country = ?, place_cc = ?, "
              "place_lat = ?, place_lon = ?")


def place_values(place: Place | None) -> tuple[object, ...]:
    """The seven place columns' values (all None for no place)."""
    if place is None:
        return (None,) * 7
    return (place.city, place.locality, place.region, place.country, place.country_code, place.lat, place.lon)
