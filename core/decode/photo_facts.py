"""What a photo says about itself: when it was taken, with which camera, and whether it knows where.

Why our own EXIF reader for JPEGs: it runs for every file an index reads,
beside thousands of others a second on a GPU machine, and Pillow's parser
costs ten times more (with the GIL held). Other formats ask Pillow. A file
with no date, or a broken one, falls back to its modification time, and says
so (`taken_from`), so filters by date still place every picture.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

_DATETIME_ORIGINAL, _OFFSET_ORIGINAL, _EXIF_IFD, _GPS_IFD, _MAKE, _MODEL = 0x9003, 0x9011, 0x8769, 0x8825, 0x10F, 0x110
ORIENTATION = 0x112
_GPS_VALUES = -1  # not a tag: the GPS IFD's entries (tag -> value), where the file has a position
_GPS_WANTED = {1, 2, 3, 4, 9}  # LatitudeRef, Latitude, LongitudeRef, Longitude, Status
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_RAW_EXIF = b"raw profile type exif\0"  # a PNG text chunk's keyword (ImageMagick)


@dataclass(frozen=True)
class PhotoFacts:
    """`taken` is the instant (what sorts); `taken + 60 * taken_offset` is the clock where the photo was taken.

    Why both: a photo's time is the local time where it was taken (18:03 in Rome is 18:03 wherever it is
    looked at, and in that day's and year's filters), while the newest-first order needs one time line.
    """

    taken: float  # seconds since the epoch (UTC)
    taken_from: str  # "exif" (with its offset), "exif-local" (no offset: this machine's zone), or "mtime"
    camera: str | None
    gps: bool  # a usable position (`lat`, `lon`): void, zero, malformed or out-of-range GPS tags are none
    # minutes east of UTC: "exif", the photo's own offset; "exif-local", this machine's zone when the file was
    # read (so the camera's clock comes back as it wrote it, whatever zone shows it later); "mtime": None, a
    # file's date shows in this machine's zone
    taken_offset: int | None = None
    # where, in WGS84 degrees, from the GPS IFD (places.gps_from_exif); None when missing or malformed. The place
    # (city, country) is looked up when the batch is committed, all its photos at once (places.places_of)
    lat: float | None = None
    lon: float | None = None


def capture_time(taken: float, offset: int | None) -> datetime:
    """The clock where the photo was taken, at its offset when one is kept (else in this machine's zone)."""
    if offset is None:
        return datetime.fromtimestamp(taken).astimezone()
    return datetime.fromtimestamp(taken, timezone(timedelta(minutes=offset)))


def iso_time(when: float | None, offset: int | None = None, taken_from: str | None = None) -> str | None:
    """A time (a capture date, a folder's last scan) as every JSON output gives it: ISO 8601 with its offset,
    but a camera clock's reading whose zone the photo does not say ("exif-local") as the camera wrote it."""
    if when is None:
        return None
    moment = capture_time(when, offset)
    return (moment.replace(tzinfo=None) if taken_from == "exif-local" else moment).isoformat(timespec="seconds")


def photo_facts(data: bytes, mtime_ns: int) -> PhotoFacts:
    """Capture date, camera and GPS presence; never raises (a broken EXIF block is as good as none)."""
    try:
        if data[:2] == b"\xff\xd8":
            tags = _jpeg_tags(data)
        else:
            png = png_exif(data) if data[:8] == PNG_SIGNATURE else None
            tags = _pillow_tags(data) if png is None else _block_tags(png) if png else {}
    except Exception:
        tags = {}
    camera = " ".join(str(tags[t]).strip("\0 ").strip() for t in (_MAKE, _MODEL) if tags.get(t)) or None
    if camera is not None:
        words = camera.split()
        camera = " ".join(w for i, w in enumerate(words) if w.lower() not in (x.lower() for x in words[:i]))
    taken = _when(tags.get(_DATETIME_ORIGINAL), tags.get(_OFFSET_ORIGINAL))
    where = _position(tags.get(_GPS_VALUES))
    lat, lon = where if where is not None else (None, None)
    if taken is None:
        return PhotoFacts(mtime_ns / 1e9, "mtime", camera, where is not None, None, lat, lon)
    return PhotoFacts(taken[0], taken[1], camera, where is not None, taken[2], lat, lon)


def _position(gps: object) -> tuple[float, float] | None:
    from clipgit.core.models.places import gps_from_exif  # never raises: a malformed position is no position

    return gps_from_exif(gps) if isinstance(gps, dict) else None


def _when(stamp: object, offset: object) -> tuple[float, str, int] | None:
    """(instant, taken_from, offset in minutes) of an EXIF date and its OffsetTimeOriginal."""
    if not isinstance(stamp, str):
        return None
    try:
        moment = datetime.strptime(stamp.strip("\0 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if isinstance(offset, str) and len(offset.strip("\0 ")) >= 6:
        text = offset.strip("\0 ")
        try:
            sign = -1 if text[0] == "-" else 1
            minutes = sign * (int(text[1:3]) * 60 + int(text[4:6]))
            zone = timezone(timedelta(minutes=minutes))  # ValueError at 24 hours or more
            return moment.replace(tzinfo=zone).timestamp(), "exif", minutes
        except (ValueError, IndexError):
            pass
    taken = moment.timestamp()  # naive: the camera's clock, read as this machine's zone
    return taken, "exif-local", round((moment.replace(tzinfo=UTC).timestamp() - taken) / 60)


def _jpeg_tags(data: bytes) -> dict[int, object]:
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:
            break
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xE1 and data[pos + 4:pos + 10] == b"Exif\0\0":
            return _block_tags(data[pos + 10:pos + 2 + length])
        pos += 2 + length
    return {}


def png_chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """A PNG's chunks as (type, where its data starts, its length), read from their headers alone, up to IEND."""
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        yield kind, pos + 8, length
        if kind == b"IEND":
            return
        pos += 12 + length


def png_exif(data: bytes) -> bytes | None:
    """A PNG's eXIf block found by walking its chunk headers (b"" when it has none), without decompressing:
    Pillow's getexif decodes the whole picture to look past the pixel data, which cost a screenshot as much
    as its decode. None: an EXIF block in a text chunk (ImageMagick's "Raw profile type exif"), which Pillow
    reads."""
    for kind, start, length in png_chunks(data):
        if kind == b"eXIf":
            block = data[start:start + length]
            return block[6:] if block.startswith(b"Exif\0\0") else block
        if kind in (b"tEXt", b"zTXt", b"iTXt") and data[start:start + 22].lower() == _RAW_EXIF:
            return None
    return b""


def _block_tags(tiff: bytes) -> dict[int, object]:
    """The tags photo_facts wants from an EXIF (TIFF) block, its GPS entries under _GPS_VALUES."""
    tags = tiff_tags(tiff, {_MAKE, _MODEL, _EXIF_IFD, _GPS_IFD}, {_DATETIME_ORIGINAL, _OFFSET_ORIGINAL})
    pointer = tags.get(_GPS_IFD)
    if isinstance(pointer, int) and 0 < pointer < len(tiff):
        try:
            tags[_GPS_VALUES] = _gps_ifd(tiff, pointer)
        except (IndexError, struct.error):  # a broken GPS block: no position, the rest is kept
            pass
    return tags


def tiff_tags(tiff: bytes, first: set[int], exif: set[int] | None = None) -> dict[int, object]:
    """The wanted tags of an EXIF block's first IFD and (when `exif` names some) of its Exif IFD: ASCII values
    as text, SHORT values and pointers as ints. Raises IndexError or struct.error on a broken block."""
    order = "<" if tiff[:2] == b"II" else ">"
    tags: dict[int, object] = {}

    def ifd(offset: int, wanted: set[int]) -> None:
        (count,) = struct.unpack(order + "H", tiff[offset:offset + 2])
        for i in range(min(count, 512)):
            entry = offset + 2 + 12 * i
            tag, kind, n = struct.unpack(order + "HHI", tiff[entry:entry + 8])
            if tag not in wanted:
                continue
            if kind == 2:  # ASCII
                start = entry + 8 if n <= 4 else struct.unpack(order + "I", tiff[entry + 8:entry + 12])[0]
                tags[tag] = tiff[start:start + n].decode("ascii", "replace")
            elif kind == 3:  # SHORT (an orientation)
                tags[tag] = struct.unpack(order + "H", tiff[entry + 8:entry + 10])[0]
            elif kind in (4, 13):  # LONG / IFD: a pointer
                tags[tag] = struct.unpack(order + "I", tiff[entry + 8:entry + 12])[0]

    ifd(struct.unpack(order + "I", tiff[4:8])[0], first | ({_EXIF_IFD} if exif else set()))
    pointer = tags.get(_EXIF_IFD)
    if exif and isinstance(pointer, int) and 0 < pointer < len(tiff):
        ifd(pointer, exif)
    return tags


def _gps_ifd(tiff: bytes, offset: int) -> dict[int, object]:
    """The GPS IFD's refs (ASCII) and coordinates (RATIONAL triples as (numerator, denominator) pairs)."""
    order = "<" if tiff[:2] == b"II" else ">"
    out: dict[int, object] = {}
    (count,) = struct.unpack(order + "H", tiff[offset:offset + 2])
    for i in range(min(count, 64)):
        entry = offset + 2 + 12 * i
        tag, kind, n = struct.unpack(order + "HHI", tiff[entry:entry + 8])
        if tag not in _GPS_WANTED:
            continue
        if kind == 2:
            start = entry + 8 if n <= 4 else struct.unpack(order + "I", tiff[entry + 8:entry + 12])[0]
            out[tag] = tiff[start:start + n].decode("ascii", "replace")
        elif kind in (5, 10) and 1 <= n <= 3:  # (S)RATIONAL: always stored at an offset
            start = struct.unpack(order + "I", tiff[entry + 8:entry + 12])[0]
            code = order + ("II" if kind == 5 else "ii") * n
            values = struct.unpack(code, tiff[start:start + 8 * n])
            out[tag] = tuple((values[2 * k], values[2 * k + 1]) for k in range(n))
    return out


def _pillow_tags(data: bytes) -> dict[int, object]:
    from clipgit.core.decode.image import open_image  # its Pillow limits: a PNG with megabytes of text keeps its date

    exif = open_image(data).getexif()
    tags: dict[int, object] = {t: exif.get(t) for t in (_MAKE, _MODEL) if exif.get(t)}
    tags.update({t: v for t, v in exif.get_ifd(_EXIF_IFD).items() if t in (_DATETIME_ORIGINAL, _OFFSET_ORIGINAL)})
    gps = exif.get_ifd(_GPS_IFD)
    if gps:
        tags[_GPS_IFD] = 1
        tags[_GPS_VALUES] = dict(gps)
    return tags
