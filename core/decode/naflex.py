"""SigLIP 2's NaFlex input: a picture kept at its aspect ratio in at most so many patches.

Why its own file: the CPU path (`Preprocess`) packs each picture into one array the decode pool and the
batches can carry, and the model's side unpacks a batch of them; both follow the processor to the pixel.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def naflex_size(height: int, width: int, patch: int, max_patches: int) -> tuple[int, int]:
    """SigLIP 2 NaFlex's picture size: the largest scale whose sides, rounded up to whole patches, make at most
    `max_patches` patches (the binary search of its processor, so sizes agree to the pixel)."""

    def side(scale: float, size: int) -> int:
        return max(patch, math.ceil(size * scale / patch) * patch)

    low, high, eps = 1e-6, 100.0, 1e-5
    while high - low >= eps:
        scale = (low + high) / 2
        if (side(scale, height) / patch) * (side(scale, width) / patch) <= max_patches:
            low = scale
        else:
            high = scale
    return side(low, height), side(low, width)


def naflex_pack(image: np.ndarray, patch: int, max_patches: int, out: np.ndarray | None = None) -> np.ndarray:
    """Normalised (H, W, 3) floats -> (max_patches + 1, patch * patch * 3): the patches row by row, zero rows
    up to max_patches, and a last row whose first two values are the patch grid's height and width.

    Why one array: the decode pool and the batches it makes carry one array per picture; the model's mask
    (the first height x width patches are real) and spatial shapes follow from that last row.
    """
    rows, cols = image.shape[0] // patch, image.shape[1] // patch
    patches = image.reshape(rows, patch, cols, patch, 3).transpose(0, 2, 1, 3, 4).reshape(rows * cols, -1)
    if out is None:
        out = np.zeros((max_patches + 1, patch * patch * 3), dtype=np.float32)
    else:
        out[rows * cols:] = 0
    out[: rows * cols] = patches
    out[max_patches, :2] = (rows, cols)
    return out


def naflex_unpack(batch: Any) -> tuple[Any, Any, Any]:
    """A torch batch of `naflex_pack` arrays -> the model's pixel_values, pixel_attention_mask, spatial_shapes."""
    import torch

    shapes = batch[:, -1, :2].round().long()
    counts = shapes[:, 0] * shapes[:, 1]
    mask = torch.arange(batch.shape[1] - 1, device=batch.device)[None, :] < counts[:, None]
    return batch[:, :-1], mask.long(), shapes
