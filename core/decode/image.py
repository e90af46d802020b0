"""Open one image fast and safely, and turn it into CLIP's input tensor.

Why our own path instead of calling the processor on a full decode: a 12 MP
JPEG decoded at 1/4 scale (`Image.draft`) takes a fraction of the time, and
resizing from twice the target size keeps the embedding faithful (cosine
>= 0.999 to the reference processor, tested). Every failure becomes an
`ImageUnreadable` with a reason a person understands.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import os
import stat
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, ImageOps, PngImagePlugin, UnidentifiedImageError

from clipgit.core.decode.naflex import naflex_pack, naflex_size
from clipgit.core.decode.photo_facts import ORIENTATION
from clipgit.core.errors import ImageUnreadable

ImageFile.LOAD_TRUNCATED_IMAGES = False
# A PNG's text chunks up to 64 MB each once inflated, not Pillow's 1 MB: editors keep megabytes of history in
# zTXt/iTXt, and Pillow refused such valid files whole. Raised, not lifted nor the text skipped: each chunk is
# inflated into memory, so the bound is what a small hostile file can make us allocate (MAX_TEXT_MEMORY, also
# 64 MB, caps an image's sum), and text chunks carry facts (ImageMagick's "Raw profile type exif", XMP's
# orientation). The pixels keep their own bomb limit (max_pixels, Image.MAX_IMAGE_PIXELS).
PNG_TEXT_CHUNK = 64 << 20
PngImagePlugin.MAX_TEXT_CHUNK = max(PngImagePlugin.MAX_TEXT_CHUNK, PNG_TEXT_CHUNK)
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
warnings.filterwarnings("ignore", message="Corrupt EXIF data", category=UserWarning)  # its date: photo_facts

try:  # optional HEIC/HEIF support
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - depends on the optional extra
    HEIF_SUPPORTED = False

MAX_FILE_BYTES = 1 << 30
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class Loaded:
    """A decoded RGB image with what the catalog keeps about its file."""

    image: Image.Image
    fingerprint: bytes
    width: int
    height: int


def read_bytes(path: str) -> bytes:
    """The whole file, in as few system calls as a file allows.

    Why not `open(path, "rb").read(limit)`: a buffered read of a 1 GiB limit allocates 1 GiB and shrinks
    it for every file (an mmap, mremap and munmap each time, with the GIL held): ten times the cost of the
    read itself, and far more under a sandboxing kernel. The size comes from fstat; the read asks for one
    byte more, so a file that grew meanwhile is still read whole.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except IsADirectoryError:
        raise ImageUnreadable("is a folder, not a file") from None
    except PermissionError:
        raise ImageUnreadable("permission denied") from None
    except FileNotFoundError:
        raise ImageUnreadable("file not found (deleted, or a broken link)") from None
    except OSError as exc:
        raise ImageUnreadable(f"cannot read file: {exc.strerror or exc}") from None
    chunks: list[bytes] = []
    total = 0
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ImageUnreadable("is a folder, not a file")
        size = info.st_size
        if size > MAX_FILE_BYTES:
            raise ImageUnreadable("file larger than 1 GiB")
        while total <= MAX_FILE_BYTES:
            more = os.read(fd, size + 1 - total if total <= size else 1 << 20)
            if not more:
                break
            chunks.append(more)
            total += len(more)
            if total == size:
                break  # all fstat promised (a short read, on a network share, goes round again)
    except OSError as exc:
        raise ImageUnreadable(f"cannot read file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if not data:
        raise ImageUnreadable("empty file")
    if len(data) > MAX_FILE_BYTES:
        raise ImageUnreadable("file larger than 1 GiB")
    return data


def fingerprint(data: bytes) -> bytes:
    """Content identity used to recognise moved and renamed files."""
    return hashlib.blake2b(data, digest_size=16).digest()


def open_image(data: bytes | memoryview) -> Image.Image:
    """`Image.open` under this module's Pillow limits: whoever opens a file with Pillow (photo_facts too) goes
    through here, so a file this module can read is never refused elsewhere."""
    return Image.open(io.BytesIO(data))


def decode(data: bytes | memoryview, *, draft_size: int | None = None,
           max_pixels: int = 120_000_000) -> tuple[Image.Image, int, int]:
    """Decode to RGB with EXIF orientation; JPEGs at the smallest scale >= draft_size. The width and height
    are the full-size picture's as it is shown, after the EXIF turn."""
    try:
        img = open_image(data)
        width, height = img.size
        if width * height > max_pixels:
            raise ImageUnreadable(f"too many pixels ({width}x{height}): refusing a possible decompression bomb")
        scale = 1
        if draft_size and img.format == "JPEG":
            drafted = img.draft("RGB", (draft_size, draft_size))
            if drafted is not None and img.size != (width, height):
                scale = round(width / drafted[1][2])
        img.load()
        orientation = img.getexif().get(ORIENTATION, 1) if scale > 1 else 1
        # in place: otherwise an upright photo is copied whole, into fresh memory the kernel maps page by page
        # (569 faults for 640x480, 1,440 at 12 MP): a quarter of a small JPEG's decode and crop
        turned = img.size
        ImageOps.exif_transpose(img, in_place=True)
        rgb = to_rgb(img)
        if scale > 1:
            rgb.info[SOURCE] = _drafted_geometry(width, height, scale, img.size, orientation)
        if img.size != turned:  # a quarter turn: a portrait phone photo is portrait wherever its size is shown
            width, height = height, width
        return rgb, width, height
    except ImageUnreadable:
        raise
    except Image.DecompressionBombError:
        raise ImageUnreadable("too many pixels: refusing a possible decompression bomb") from None
    except UnidentifiedImageError:
        hint = "" if HEIF_SUPPORTED or data[4:12] not in (b"ftypheic", b"ftypheix", b"ftypmif1") else (
            " (HEIC needs the optional extra: pip install 'clipgit[heif]')"
        )
        kind = _image_kind(data)
        if kind and not hint:
            raise ImageUnreadable(f"a {kind} file Pillow cannot read: damaged, or a variant it does not support") \
                from None
        raise ImageUnreadable("not an image, or a format Pillow cannot read" + hint) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError) as exc:
        raise ImageUnreadable(f"corrupt or truncated image: {exc}") from None
    except MemoryError:
        raise ImageUnreadable("image too large to decode") from None


SOURCE = "clipgit.source"  # a drafted JPEG's geometry, see source_geometry
_MAGIC = ((b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"\xff\xd8\xff", "JPEG"), (b"\x89PNG", "PNG"),
          (b"GIF8", "GIF"), (b"BM", "BMP"))


def _image_kind(data: bytes | memoryview) -> str:
    """The format a file's first bytes announce, when Pillow could not open it: a TIFF with a pixel layout
    Pillow lacks is then not called 'not an image'."""
    head = bytes(data[:12])
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[4:12] in (b"ftypavif", b"ftypavis"):
        return "AVIF"
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), "")


_TURNS = {2: (False, True, False), 3: (False, True, True), 4: (False, False, True), 5: (True, False, False),
          6: (True, True, False), 7: (True, True, True), 8: (True, False, True)}  # swap sides, flip x, flip y


def _drafted_geometry(width: int, height: int, scale: int, size: tuple[int, int],
                      orientation: object) -> tuple[int, int, int, float, float]:
    """Upright full size, scale, and where the picture starts in the upright decoded pixels: a side that is
    not a multiple of the scale ends in a part pixel, which a flip or a turn puts first."""
    swap, flip_x, flip_y = _TURNS.get(orientation if isinstance(orientation, int) else 1, (False, False, False))
    full_x, full_y = (height, width) if swap else (width, height)
    left = size[0] - full_x / scale if flip_x else 0.0
    top = size[1] - full_y / scale if flip_y else 0.0
    return full_x, full_y, scale, left, top


def source_geometry(img: Image.Image) -> tuple[int, int, tuple[float, float, float, float]]:
    """The full-size upright width and height a decoded picture stands for, and where that picture lies in
    its pixels (left, top, right, bottom). Why: a JPEG decoded at half scale is 371 pixels wide for 741, and
    a layout computed from the 371 rounds the resize and the crop differently from the reference's on the
    741: a pixel's shift, which cost several levels on average in a detailed photo."""
    source = img.info.get(SOURCE)
    if source is None:
        return img.width, img.height, (0.0, 0.0, float(img.width), float(img.height))
    width, height, scale, left, top = source
    return int(width), int(height), (left, top, left + width / scale, top + height / scale)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> correct 8-bit RGB (transparency over white, 16-bit scaled)."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L").convert("RGB")
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        scaled = (arr - lo) / (hi - lo or 1.0) * 255.0
        return Image.fromarray(np.nan_to_num(scaled).astype(np.uint8), "L").convert("RGB")
    if (mode == "P" and "transparency" in img.info) or mode in ("PA", "LA", "La", "RGBA", "RGBa"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def load(path: str, *, draft_size: int | None = None, max_pixels: int = 120_000_000) -> Loaded:
    data = read_bytes(path)
    img, width, height = decode(data, draft_size=draft_size, max_pixels=max_pixels)
    return Loaded(img, fingerprint(data), width, height)


def _field(value: object, name: str) -> int | None:
    """A size's field, from a dict or from transformers' SizeDict."""
    if value is None:
        return None
    found = value.get(name) if isinstance(value, dict) else getattr(value, name, None)
    return None if found is None else int(found)


@dataclass(frozen=True)
class Preprocess:
    """CLIP's resize -> centre crop -> normalise, read from the model's processor config.

    `raw_jpeg`: the model decodes JPEGs itself (on a CUDA device, with nvJPEG), so the decode pool hands
    it their bytes (`RawJpeg`) instead of pixels.
    """

    shortest_edge: int = 224
    crop_height: int = 224
    crop_width: int = 224
    mean: tuple[float, float, float] = OPENAI_MEAN
    std: tuple[float, float, float] = OPENAI_STD
    resample: int = Image.Resampling.BICUBIC
    raw_jpeg: bool = False
    center_crop: bool = True  # False: resized straight to crop_width x crop_height, as SigLIP's processor does
    patch: int = 0  # NaFlex (SigLIP 2): the picture keeps its aspect ratio in at most max_patches patches
    max_patches: int = 0

    @classmethod
    def from_image_processor(cls, proc: object) -> Preprocess:
        """The model family's own preprocessing: CLIP resizes the short side and crops the centre; SigLIP
        squashes the whole picture to a fixed size (and normalises to [-1, 1])."""
        size, crop = getattr(proc, "size", None), getattr(proc, "crop_size", None)
        resample = getattr(proc, "resample", Image.Resampling.BICUBIC)
        common = dict(mean=tuple(getattr(proc, "image_mean", None) or OPENAI_MEAN),
                      std=tuple(getattr(proc, "image_std", None) or OPENAI_STD),
                      resample=int(resample) if resample is not None else Image.Resampling.BICUBIC)
        if getattr(proc, "max_num_patches", None):  # NaFlex: no fixed size at all
            patch, most = int(getattr(proc, "patch_size", 16)), int(getattr(proc, "max_num_patches", 256))
            return cls(shortest_edge=patch, crop_height=patch, crop_width=patch, center_crop=False, patch=patch,
                       max_patches=most, **common)  # type: ignore[arg-type]
        edge = _field(size, "shortest_edge")
        if edge is None and getattr(proc, "do_center_crop", None) is not True:
            height, width = int(_field(size, "height") or 224), int(_field(size, "width") or 224)
            return cls(shortest_edge=min(height, width), crop_height=height, crop_width=width, center_crop=False,
                       **common)  # type: ignore[arg-type]
        edge = int(edge or _field(size, "height") or 224)
        return cls(shortest_edge=edge, crop_height=int(_field(crop, "height") or edge),
                   crop_width=int(_field(crop, "width") or edge), **common)  # type: ignore[arg-type]

    @property
    def draft_size(self) -> int:
        if self.max_patches:
            return 2 * self.patch * math.isqrt(self.max_patches)
        return 2 * (self.shortest_edge if self.center_crop else max(self.crop_width, self.crop_height))

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one picture's model input (`__call__`'s float32 array)."""
        if self.max_patches:
            return self.max_patches + 1, self.patch * self.patch * 3
        return 3, self.crop_height, self.crop_width

    @property
    def input_bytes(self) -> int:
        return 4 * math.prod(self.input_shape)

    def __call__(self, img: Image.Image) -> np.ndarray:
        """RGB image -> float32 array (3, crop_height, crop_width)."""
        return self.normalize(self.crop(img))

    def normalize(self, crop: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """uint8 (crop_height, crop_width, 3) -> the model's float32 (3, crop_height, crop_width); for NaFlex,
        the packed patches (see `naflex_pack`). `out`: where to write them (`input_shape`), e.g. shared memory.

        Why a table: a uint8 has 256 values, so each channel's (v / 255 - mean) / std is computed once, with
        the same float32 steps, and looked up: the same numbers at a quarter of the time (0.17 against
        0.4-0.8 ms a crop), which a decode pool spends for every image.
        """
        table = self._table
        if self.max_patches:
            return naflex_pack(table[np.arange(3), crop], self.patch, self.max_patches, out)
        planes = crop.transpose(2, 0, 1)
        if out is None:
            out = np.empty(planes.shape, np.float32)
        for c in range(3):  # into one array: no plane made and then copied (0.14 against 0.18 ms a crop here)
            np.take(table[c], planes[c], out=out[c])
        return out

    @functools.cached_property
    def _table(self) -> np.ndarray:
        """(3, 256) float32: each channel's normalised value of each 8-bit level."""
        scaled = np.arange(256, dtype=np.float32)[:, None] * np.float32(1.0 / 255.0)
        table = (scaled - np.asarray(self.mean, dtype=np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(table.T)

    def layout(self, width: int, height: int) -> tuple[tuple[int, int], int, int]:
        """A picture's (width, height) after the resize, and the crop's left and top in it: the short side
        to `shortest_edge`, the long one in proportion (truncated, as the processor does); without a centre
        crop, squashed to the crop's size. The CPU's crop and the card's (torch_preprocess) both use it."""
        if not self.center_crop:
            return (self.crop_width, self.crop_height), 0, 0
        short, long = (width, height) if width <= height else (height, width)
        new_long = int(self.shortest_edge * long / short)
        size = (self.shortest_edge, new_long) if width <= height else (new_long, self.shortest_edge)
        return size, (size[0] - self.crop_width) // 2, (size[1] - self.crop_height) // 2

    def crop(self, img: Image.Image) -> np.ndarray:
        """RGB image -> resized and centre-cropped uint8 (crop_height, crop_width, 3). A JPEG decoded at a
        reduced scale is laid out by its full size (`source_geometry`), so sizes round as the reference
        processor's do on the full decode."""
        width, height, whole = source_geometry(img)
        if self.max_patches:
            rows, cols = naflex_size(height, width, self.patch, self.max_patches)
            return np.asarray(img.resize((cols, rows), resample=self.resample, box=whole), dtype=np.uint8)
        if not self.center_crop:
            return np.asarray(img.resize((self.crop_width, self.crop_height), resample=self.resample, box=whole),
                              dtype=np.uint8)
        size, left, top = self.layout(width, height)
        if left < 0 or top < 0:  # smaller than the crop: PIL's crop pads the resized picture with black
            img = img.resize(size, resample=self.resample, box=whole)
            return np.asarray(img.crop((left, top, left + self.crop_width, top + self.crop_height)), np.uint8)
        # only the part the crop keeps is resized (a quarter less work for a 4:3 photo): the box is the crop
        # in the decoded pixels' coordinates, and PIL's filter still reads the pixels around it, so levels
        # differ from resizing the whole picture by at most 1
        sx, sy = (whole[2] - whole[0]) / size[0], (whole[3] - whole[1]) / size[1]
        box = (whole[0] + left * sx, whole[1] + top * sy, whole[0] + (left + self.crop_width) * sx,
               whole[1] + (top + self.crop_height) * sy)
        return np.asarray(img.resize((self.crop_width, self.crop_height), resample=self.resample, box=box),
                          dtype=np.uint8)
