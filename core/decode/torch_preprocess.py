"""The model's resize, centre crop and normalise in torch, on decoded pixels wherever they are (card or CPU).

Why matrices: PIL's resize with antialiasing is separable, one set of weights per output row and column,
so the resize and the crop are two matrix products: (crop rows x H) @ picture @ (W x crop columns), which
on a card run on its matrix units. torch's own antialiased interpolate computes the same weights but
visits every tap of both axes for every output pixel: on an H200 it resized 973-987 photos of 12 MP a
second, slower than the card decodes them (about 950), where the products resize 4,508. The weights are
PIL's (and torch's) to the last digit; on CUDA the products run in float16, whose rounding moves a level
by at most one after rounding to 8 bits (vectors at cosine 1.0000 to the reference processor's).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from clipgit.core.decode.image import Preprocess

CHUNK_PIXELS = 1 << 27  # pixels resized at once on a CPU (1.5 GB of float32 RGB); on a card, by its free memory


def preprocess_batch(images: Sequence[Any], pp: Preprocess) -> Any:
    """uint8 (3, H, W) tensors of any sizes -> float32 (B, 3, crop_h, crop_w), as `Preprocess` does on the CPU.

    Images of one size are resized together (a folder of camera photos is one call, not one per image),
    with PIL's filter (bicubic, or bilinear where the model's processor asks for it), rounded to 8 bits as
    PIL's is. Where the picture is smaller than the crop, the rest is black (PIL's crop pads with 0).
    """
    import torch

    device = images[0].device
    work = torch.float16 if device.type == "cuda" else torch.float32
    out = torch.empty((len(images), 3, pp.crop_height, pp.crop_width), dtype=torch.float32, device=device)
    chunk_pixels = _chunk_pixels(device)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, img in enumerate(images):
        groups.setdefault((int(img.shape[1]), int(img.shape[2])), []).append(i)
    mean = torch.tensor(pp.mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std = torch.tensor(pp.std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    for (h, w), members in groups.items():
        (nw, nh), left, top = pp.layout(w, h)
        rows, (r0, r1) = _weights(h, nh, top, pp.crop_height, pp.resample, str(device), work)
        cols, (c0, c1) = _weights(w, nw, left, pp.crop_width, pp.resample, str(device), work)
        step = max(1, chunk_pixels // ((r1 - r0) * (c1 - c0)))
        for start in range(0, len(members), step):
            chunk = members[start:start + step]
            batch = torch.stack([images[i][:, r0:r1, c0:c1] for i in chunk]).to(work)
            resized = (rows @ batch @ cols.T).float()
            rows_out = slice(chunk[0], chunk[-1] + 1) if chunk[-1] - chunk[0] == len(chunk) - 1 else chunk
            out[rows_out] = (resized.round_().clamp_(0, 255) / 255.0 - mean) / std  # a slice: no index tensor
    return out


def _chunk_pixels(device: Any) -> int:
    """How many pixels to resize in one go: on a card, a 24th of its free memory (9 bytes a pixel in flight,
    with room to spare), 16 M to 512 M; a few calls for a batch of 12 MP photos instead of one per few."""
    import torch

    if device.type != "cuda":
        return CHUNK_PIXELS
    free, _ = torch.cuda.mem_get_info(device)
    return int(min(1 << 29, max(1 << 24, free // 24)))


@functools.lru_cache(maxsize=64)
def _weights(size: int, new_size: int, start: int, count: int, resample: int, device: str,
             dtype: Any) -> tuple[Any, tuple[int, int]]:
    """The (count x span) weights that resize one axis from `size` to `new_size` and keep outputs start..
    start+count, and the span of input pixels they read (lo, hi): the rest of the picture is never touched."""
    import torch

    matrix = resize_weights(size, new_size, start, count, resample)
    used = np.flatnonzero(np.abs(matrix).sum(axis=0))
    lo, hi = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 1)
    return torch.tensor(matrix[:, lo:hi], dtype=dtype, device=device), (lo, hi)


def resize_weights(size: int, new_size: int, start: int, count: int, resample: int) -> np.ndarray:
    """Rows start..start+count of the (new_size x size) matrix of PIL's resampling filter with
    antialiasing (PIL's precompute_coeffs; torch's interpolate(antialias=True) computes the same), float64.
    Rows outside 0..new_size are zero: black, as PIL's crop pads."""
    bilinear = resample == Image.Resampling.BILINEAR
    scale = size / new_size
    stretch = max(scale, 1.0)
    support = (1.0 if bilinear else 2.0) * stretch
    matrix = np.zeros((count, size))
    for row, i in enumerate(range(start, start + count)):
        if not 0 <= i < new_size:
            continue
        center = (i + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), size)
        x = np.abs((np.arange(lo, hi) - center + 0.5) / stretch)
        if bilinear:
            taps = np.clip(1.0 - x, 0.0, None)
        else:  # bicubic, a = -0.5
            a = -0.5
            taps = np.where(x < 1.0, ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0,
                            np.where(x < 2.0, (((x - 5.0) * x + 8.0) * x - 4.0) * a, 0.0))
        total = taps.sum()
        if total:
            matrix[row, lo:hi] = taps / total
    return matrix
