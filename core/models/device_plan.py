"""How the machine is used for a device setting: the model thread's CPU priority, the batch size, and how many
JPEG pixels a batch may put on the card. Each answers without importing torch where it can (on a CPU, or
where no NVIDIA driver is loaded): a rescan that embeds nothing, or a run that only reads text, never pays
for torch's import."""

from __future__ import annotations

import os

from clipgit.core.inference import BACKGROUND_NICE, FEEDER_NICE

CARD_PIXELS = 256 * 12_000_000  # JPEG pixels a batch hands the card at most (see card_pixels)


def uses_cuda(device: str) -> bool:
    """Whether DEVICE (a setting, or a model's resolved device) runs on CUDA: without importing torch where no
    NVIDIA driver is loaded. Raises ModelUnavailable where cuda is asked for and torch sees no GPU."""
    if device == "cpu" or not os.path.exists("/proc/driver/nvidia"):
        return False
    from clipgit.core.models.hub import resolve_device

    return resolve_device(device).startswith("cuda")


def inference_nice(device: str) -> int:
    """On a GPU the model's thread only launches the card's work, and the card waits on it: it runs ahead of
    the readers. On a CPU it is the work, among them."""
    return FEEDER_NICE if uses_cuda(device) else BACKGROUND_NICE


def batch_size(device: str, setting: int) -> int:
    """The setting, or one chosen for the device: a GPU wants big batches (on an H200, 512 640x480 JPEGs a
    batch indexed 5,201 a second where 256 gave 4,841; photos of 12 MP are held to what fits, see
    `card_pixels`), a CPU gains nothing past 32."""
    if setting:
        return setting
    return 512 if uses_cuda(device) else 32


def card_pixels(device: str) -> int:
    """JPEG pixels one batch may put on the card (`device`: the model's resolved one): decoded, a batch is 3
    bytes a pixel on the card before it is resized. At most 256 photos of 12 MP (9 GB: on the H200, 512 of
    them a batch indexed 544 a second where 256 gave 606), and a twelfth of a smaller card's memory (55 such
    photos on 8 GB)."""
    if not device.startswith("cuda"):
        return CARD_PIXELS
    import torch

    total = torch.cuda.get_device_properties(device).total_memory
    return int(min(CARD_PIXELS, total // 12))
