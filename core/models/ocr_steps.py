"""The work around the PP-OCR networks, as plain functions on numpy arrays: no sessions, no state.

Why apart from `ocr.py`: these steps are where the speed and the geometry live (detection on a small copy, crops
from the full picture, boxes mapped back up), and they are tested and timed without loading a model. They follow
PaddleOCR's own pre- and post-processing (BGR channel order, its normalisations, DB boxes grown by the unclip
ratio, CTC decoding), so the bundled models see what they were trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

Pixels = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float32]

_DET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32) * 255  # applied to B, G, R as PaddleOCR does
_DET_SCALE = 1 / (np.array([0.229, 0.224, 0.225], dtype=np.float32) * 255)


@dataclass(frozen=True, slots=True)
class Box:
    """A text box: 4 corners (top-left, top-right, bottom-right, bottom-left) in full-picture pixels."""

    quad: Floats  # shape (4, 2), x then y
    score: float

    @property
    def size(self) -> tuple[float, float]:
        """(length along the text, thickness across it) as drawn: for a box turned 90 degrees, height first."""
        q = self.quad
        return (float(max(np.linalg.norm(q[0] - q[1]), np.linalg.norm(q[3] - q[2]))),
                float(max(np.linalg.norm(q[0] - q[3]), np.linalg.norm(q[1] - q[2]))))


def det_input(bgr: Pixels, limit: int) -> tuple[Floats, float, float]:
    """The detector's input: the BGR picture shrunk so its longest side is at most `limit`, padded to multiples
    of 32.

    Returns the NCHW batch of one and the factors (x, y) from detector pixels back to full-picture pixels.
    """
    h, w = bgr.shape[:2]
    scale = min(1.0, limit / max(h, w))
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    small: npt.NDArray[Any] = bgr
    step = int(w / nw)
    if step >= 2:  # whole-number steps by area averaging (fast, no aliasing), then the rest (< 2x) bilinear
        small = cv2.resize(small, (w // step, h // step), interpolation=cv2.INTER_AREA)
    if small.shape[:2] != (nh, nw):
        small = cv2.resize(small, (nw, nh), interpolation=cv2.INTER_LINEAR)
    ph, pw = max(32, -(-nh // 32) * 32), max(32, -(-nw // 32) * 32)
    batch = np.zeros((1, 3, ph, pw), dtype=np.float32)
    for channel in range(3):  # B, G, R: the order PaddleOCR's models were trained in; in place, no temporaries
        plane = batch[0, channel, :nh, :nw]
        np.subtract(small[:, :, channel], _DET_MEAN[channel], out=plane, dtype=np.float32)
        plane *= _DET_SCALE[channel]
    return batch, w / nw, h / nh


def _order(points: Floats) -> Floats:
    """Corners ordered top-left, top-right, bottom-right, bottom-left (PaddleOCR's get_mini_boxes rule)."""
    by_x = points[np.argsort(points[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    tl, bl = (left[0], left[1]) if left[0, 1] <= left[1, 1] else (left[1], left[0])
    tr, br = (right[0], right[1]) if right[0, 1] <= right[1, 1] else (right[1], right[0])
    return np.array([tl, tr, br, bl], dtype=np.float32)


def _mean_inside(prob: Floats, quad: Floats) -> float:
    h, w = prob.shape
    x0, y0 = np.clip(np.floor(quad.min(axis=0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(quad.max(axis=0)).astype(int), 0, [w - 1, h - 1])
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(quad - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def boxes_from_map(prob: Floats, fx: float, fy: float, full: tuple[int, int], *, thresh: float = 0.3,
                   box_thresh: float = 0.6, unclip: float = 1.5, max_boxes: int = 500) -> list[Box]:
    """DB post-processing: the probability map's blobs as rotated boxes, grown, mapped to full-picture pixels.

    At most `max_boxes`, the largest first (a picture of thousands of tiny glyphs still answers in bounded time).
    """
    bitmap = (prob > thresh).astype(np.uint8)
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    rects = [cv2.minAreaRect(c) for c in contours]
    rects = sorted((r for r in rects if min(r[1]) >= 3), key=lambda r: -r[1][0] * r[1][1])
    width, height = full
    boxes: list[Box] = []
    for (cx, cy), (rw, rh), angle in rects[: max_boxes * 2]:
        quad = np.asarray(cv2.boxPoints(((cx, cy), (rw, rh), angle)), dtype=np.float32)
        score = _mean_inside(prob, quad)
        if score < box_thresh:
            continue
        # PaddleOCR grows the rectangle with pyclipper by area * ratio / perimeter; for a rectangle that is the
        # same as adding that distance on every side
        grow = rw * rh * unclip / (2 * (rw + rh))
        if min(rw, rh) + 2 * grow < 5:
            continue
        quad = np.asarray(cv2.boxPoints(((cx, cy), (rw + 2 * grow, rh + 2 * grow), angle)), dtype=np.float32)
        quad = _order(quad) * np.array([fx, fy], dtype=np.float32)
        quad[:, 0] = np.clip(quad[:, 0], 0, width)
        quad[:, 1] = np.clip(quad[:, 1], 0, height)
        box = Box(quad, score)
        if min(box.size) > 3:
            boxes.append(box)
        if len(boxes) == max_boxes:
            break
    return boxes


def crop(bgr: Pixels, box: Box, height: int) -> tuple[Pixels, bool]:
    """The box's text as a strip cut from the full BGR picture, at most twice the recogniser's height; and
    whether it was turned.

    Boxes at least 1.5 times taller than wide are read as text turned 90 degrees and turned back anticlockwise
    (text turned the other way then lies upside down, which the angle classifier corrects).
    """
    length, thick = box.size
    text_height = min(length, thick)
    scale = min(1.0, 2 * height / max(text_height, 1.0))
    w, h = max(1, round(length * scale)), max(1, round(thick * scale))
    target = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(box.quad, target)
    strip = cv2.warpPerspective(bgr, matrix, (w, h), flags=cv2.INTER_CUBIC if scale == 1.0 else cv2.INTER_AREA,
                                borderMode=cv2.BORDER_REPLICATE)
    turned = h >= 1.5 * w
    upright = np.ascontiguousarray(np.rot90(strip)) if turned else strip
    return upright.astype(np.uint8, copy=False), turned


def strips_input(strips: list[Pixels], height: int, min_width: int, max_width: int | None = None) -> Floats:
    """A batch for the recogniser or the angle classifier: each strip at `height`, padded to the widest.

    Values in [-1, 1] as PaddleOCR's recognisers expect; padding is 0 (mid-grey), as theirs is.
    """
    widths = [max(1, min(math.ceil(height * s.shape[1] / s.shape[0]), max_width or 1 << 30)) for s in strips]
    batch = np.zeros((len(strips), 3, height, max(min_width, *widths)), dtype=np.float32)
    for i, (strip, width) in enumerate(zip(strips, widths)):
        resized = cv2.resize(strip, (width, height), interpolation=cv2.INTER_LINEAR)
        batch[i, :, :, :width] = resized.transpose(2, 0, 1).astype(np.float32) * (2 / 255) - 1
    return batch


def ctc_decode(probs: Floats, alphabet: list[str]) -> list[tuple[str, float]]:
    """Greedy CTC: best class per step, repeats merged, blanks (class 0) dropped; confidence = mean best prob."""
    best = probs.argmax(axis=2)
    best_p = np.take_along_axis(probs, best[:, :, None], axis=2)[:, :, 0]  # one pass over the classes, not two
    out = []
    for row, row_p in zip(best, best_p):
        keep = np.ones(len(row), dtype=bool)
        keep[1:] = row[1:] != row[:-1]
        keep &= row != 0
        chars = [alphabet[i] if i < len(alphabet) else "" for i in row[keep]]
        out.append(("".join(chars).strip(), float(row_p[keep].mean()) if keep.any() else 0.0))
    return out


def reading_order(boxes: list[Box]) -> list[list[int]]:
    """Box indices grouped into rows, top to bottom, each row left to right.

    A box joins a row when its centre lies within half the row's text height of the row's centre line.
    """
    centres = [(b.quad[:, 0].mean(), b.quad[:, 1].mean(), min(b.size)) for b in boxes]
    rows: list[list[int]] = []
    row_y, row_h = 0.0, 0.0
    for i in sorted(range(len(boxes)), key=lambda k: centres[k][1]):
        _, y, h = centres[i]
        if rows and abs(y - row_y) < 0.5 * min(h, row_h):
            rows[-1].append(i)
        else:
            rows.append([i])
            row_y, row_h = y, h
    return [sorted(row, key=lambda k: centres[k][0]) for row in rows]
