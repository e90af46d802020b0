"""CLIP's resize, crop and normalise in torch, and JPEG decode on the GPU: bytes in, model input out.

Why: a card embeds tens of thousands of images a second, but a CPU decode
pool feeds it a few hundred. On a CUDA device, JPEG bytes go to the card's decoder
(torchvision's nvJPEG, or nvImageCodec, batched), and the decoded
pixels are oriented, resized, cropped and normalised where they already are,
with no trip through host memory. The torch ops run on CPU tensors as well,
so their faithfulness to the model's own processor is tested without a GPU.
Called on the device-decode thread (or, on a CPU, the inference thread).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import ImageUnreadable
from .images import Preprocess, RawJpeg, decode

CHUNK_PIXELS = 1 << 27  # pixels resized at once: 1.5 GB of float32 RGB


DECODER_ENV = "CLIPGIT_JPEG_DECODER"  # auto | torchvision | nvimgcodec: which GPU JPEG decoder (benchmarks compare)


def gpu_decode_available(device: str) -> bool:
    """A GPU JPEG decoder: only on CUDA, and only if nvImageCodec or torchvision imports cleanly (both are
    optional: a CPU torch beside a mismatched torchvision breaks transformers, so neither is required)."""
    return device.startswith("cuda") and jpeg_decoder() is not None


def on_card(pp: Preprocess, device: str) -> Preprocess:
    """The model's preprocessing, with JPEGs decoded and resized on the card where that can be done: a GPU
    decoder is there, and the pictures are not NaFlex ones (kept in their aspect ratio: the card's path
    squashes or crops)."""
    if pp.max_patches or not gpu_decode_available(device):
        return pp
    return dataclasses.replace(pp, raw_jpeg=True)


@functools.cache
def jpeg_decoder() -> str | None:
    """torchvision's nvJPEG where it is installed, else nvImageCodec; the environment can pick one.

    Why this order: on an H100 (in a sandbox) whole index runs were faster with torchvision (3,602 against
    3,197 images/s at 640x480, 444 against 371 at 12 MP); nvImageCodec's hardware engines gave 12 MP photos
    no more than nvJPEG's CUDA decoder (475 against 465 a second, decode alone).
    """
    wanted = os.environ.get(DECODER_ENV, "auto")
    for name in ("torchvision", "nvimgcodec"):
        if wanted not in ("auto", name):
            continue
        if _imports(name):
            return name
    return None


def _imports(name: str) -> bool:
    """Whether the decoder's library imports cleanly (a mismatched build fails in more ways than ImportError)."""
    try:
        if name == "nvimgcodec":
            from nvidia import nvimgcodec  # noqa: F401
        else:
            from torchvision.io import decode_jpeg  # noqa: F401
    except Exception:
        return False
    return True


def orient(image: Any, orientation: int) -> Any:
    """A (C, H, W) tensor turned upright as EXIF orientation 1-8 says (as PIL's exif_transpose does)."""
    import torch

    if orientation == 2:
        return torch.flip(image, dims=(2,))
    if orientation == 3:
        return torch.flip(image, dims=(1, 2))
    if orientation == 4:
        return torch.flip(image, dims=(1,))
    if orientation == 5:
        return image.transpose(1, 2)
    if orientation == 6:
        return torch.rot90(image, k=-1, dims=(1, 2))
    if orientation == 7:
        return torch.flip(image.transpose(1, 2), dims=(1, 2))
    if orientation == 8:
        return torch.rot90(image, k=1, dims=(1, 2))
    return image


def preprocess_batch(images: Sequence[Any], pp: Preprocess) -> Any:
    """uint8 (3, H, W) tensors of any sizes -> float32 (B, 3, crop_h, crop_w), as `Preprocess` does on the CPU.

    Images of one size are resized together (a folder of camera photos is one call, not one per image).
    The resize is bicubic with antialiasing (PIL's filter), rounded to 8 bits as PIL's is.
    """
    import torch
    import torch.nn.functional as F

    device = images[0].device
    out = torch.empty((len(images), 3, pp.crop_height, pp.crop_width), dtype=torch.float32, device=device)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, img in enumerate(images):
        groups.setdefault((int(img.shape[1]), int(img.shape[2])), []).append(i)
    mean = torch.tensor(pp.mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std = torch.tensor(pp.std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    for (h, w), members in groups.items():
        if pp.center_crop:
            short, long = (w, h) if w <= h else (h, w)
            new_long = int(pp.shortest_edge * long / short)
            nw, nh = (pp.shortest_edge, new_long) if w <= h else (new_long, pp.shortest_edge)
        else:  # squashed to the model's size, as SigLIP's processor does
            nw, nh = pp.crop_width, pp.crop_height
        top, left = (nh - pp.crop_height) // 2, (nw - pp.crop_width) // 2
        step = max(1, CHUNK_PIXELS // (h * w))  # 12 MP photos in floats: a few at a time, not the whole batch
        for start in range(0, len(members), step):
            chunk = members[start:start + step]
            batch = torch.stack([images[i] for i in chunk]).float()
            if (nh, nw) != (h, w):
                batch = F.interpolate(batch, size=(nh, nw), mode="bicubic", antialias=True, align_corners=False)
            batch = _crop(batch.round_().clamp_(0, 255), top, left, pp.crop_height, pp.crop_width)
            out[chunk] = (batch / 255.0 - mean) / std
    return out


def _crop(batch: Any, top: int, left: int, height: int, width: int) -> Any:
    """A centre crop; where the image is smaller than the crop, the rest is black (PIL's crop pads with 0)."""
    import torch.nn.functional as F

    pad_top, pad_left = max(0, -top), max(0, -left)
    pad_bottom = max(0, top + height - batch.shape[2])
    pad_right = max(0, left + width - batch.shape[3])
    if pad_top or pad_left or pad_bottom or pad_right:
        batch = F.pad(batch, (pad_left, pad_right, pad_top, pad_bottom))
        top, left = top + pad_top, left + pad_left
    return batch[:, :, top:top + height, left:left + width]


def decode_jpegs(raws: Sequence[RawJpeg], device: str) -> list[Any | None]:
    """RGB uint8 (3, H, W) tensors on the device, EXIF not applied; None where the decoder refused a file."""
    if jpeg_decoder() == "nvimgcodec" and device not in _NVIMGCODEC_FAILED:
        images = _nvimgcodec_decode(raws, device)
        if images is not None:
            return images
    return _torchvision_decode(raws, device) if _imports("torchvision") else [None] * len(raws)


_NVIMGCODEC_FAILED: set[str] = set()  # devices where nvImageCodec failed once: the next decoder takes over


@functools.cache
def _nvimgcodec_state(device: str) -> tuple[Any, Any] | None:
    """The decoder (hardware engines first, then CUDA) and its parameters; None if it will not start."""
    try:
        from nvidia import nvimgcodec

        index = int(device.split(":")[1]) if ":" in device else 0
        backends = [nvimgcodec.Backend(nvimgcodec.BackendKind.HW_GPU_ONLY),
                    nvimgcodec.Backend(nvimgcodec.BackendKind.GPU_ONLY)]
        decoder = nvimgcodec.Decoder(device_id=index, backends=backends)
        rgb = getattr(nvimgcodec.ColorSpec, "SRGB", None) or nvimgcodec.ColorSpec.RGB  # 0.9 / earlier names
        params = nvimgcodec.DecodeParams(apply_exif_orientation=False, color_spec=rgb)
    except Exception as exc:  # an API or library mismatch: torchvision's nvJPEG, or the CPU, decodes instead
        warnings.warn(f"nvImageCodec did not start ({exc}); using the next decoder", stacklevel=2)
        return None
    return decoder, params


def _nvimgcodec_decode(raws: Sequence[RawJpeg], device: str) -> list[Any | None] | None:
    """The batch in one call to nvImageCodec, on the current CUDA stream; None in the list where it could not
    decode a file, None for the whole batch where the library itself failed."""
    import torch

    state = _nvimgcodec_state(device)
    if state is None:
        _NVIMGCODEC_FAILED.add(device)
        return None
    decoder, params = state
    stream = torch.cuda.current_stream(device).cuda_stream
    try:
        try:
            images = decoder.decode([bytes(r.data) for r in raws], params=params, cuda_stream=stream)
        except TypeError:  # versions that want code streams, not bytes
            from nvidia import nvimgcodec

            streams = [nvimgcodec.CodeStream(bytes(r.data)) for r in raws]
            images = decoder.decode(streams, params=params, cuda_stream=stream)
        return [_as_chw(image, device) for image in images]
    except Exception as exc:  # the library failed, not a file: stop using it
        warnings.warn(f"nvImageCodec failed ({exc}); using the next decoder", stacklevel=2)
        _NVIMGCODEC_FAILED.add(device)
        return None


def _as_chw(image: Any, device: str) -> Any | None:
    """nvImageCodec's (H, W, C) image as a (3, H, W) uint8 tensor on the device (None stays None)."""
    import torch

    if image is None:
        return None
    tensor = torch.as_tensor(image, device=device)  # nvImageCodec's memory, kept alive by the tensor
    if tensor.ndim == 2:
        tensor = tensor[:, :, None]
    if tensor.shape[2] == 1:
        tensor = tensor.expand(-1, -1, 3)
    return tensor[:, :, :3].permute(2, 0, 1)


def _torchvision_decode(raws: Sequence[RawJpeg], device: str) -> list[Any | None]:
    """nvJPEG, the whole batch in one call; where it refuses the batch, one file at a time (None: refused)."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # frombuffer on read-only bytes: nvJPEG only reads them
        tensors = [torch.frombuffer(r.data, dtype=torch.uint8) for r in raws]
    try:
        return list(decode_jpeg(tensors, mode=ImageReadMode.RGB, device=device))
    except RuntimeError:
        pass
    out: list[Any | None] = []
    for tensor in tensors:
        try:
            out.append(decode_jpeg(tensor, mode=ImageReadMode.RGB, device=device))
        except RuntimeError:
            out.append(None)
    return out


def model_input(items: Sequence[np.ndarray | RawJpeg], pp: Preprocess, device: str,
                max_pixels: int) -> tuple[Any, list[str | None]]:
    """The batch on `device` as float32 (B, 3, h, w), and per item None or why it could not be decoded.

    Items are pixels already preprocessed on the CPU, or JPEG bytes that nvJPEG decodes here. A JPEG it
    refuses is decoded by Pillow on this thread instead: no good image is lost to the fast path.
    """
    import torch

    rows: list[Any] = [None] * len(items)
    errors: list[str | None] = [None] * len(items)
    cpu = [i for i, item in enumerate(items) if isinstance(item, np.ndarray)]
    if cpu:
        host = torch.from_numpy(np.stack([items[i] for i in cpu]))  # type: ignore[misc]
        cuda = device.startswith("cuda")
        moved = host.pin_memory().to(device, non_blocking=True) if cuda else host.to(device)
        for row, i in zip(moved, cpu):
            rows[i] = row
    jpegs = [i for i, item in enumerate(items) if isinstance(item, RawJpeg)]
    if jpegs:
        raws: list[RawJpeg] = [items[i] for i in jpegs]  # type: ignore[misc]
        decoded = decode_jpegs(raws, device)
        upright: list[Any] = []
        ready: list[int] = []
        for i, raw, pixels in zip(jpegs, raws, decoded):
            if pixels is None:
                try:
                    image, _, _ = decode(raw.data, draft_size=pp.draft_size, max_pixels=max_pixels)
                except ImageUnreadable as exc:
                    errors[i] = str(exc)
                    rows[i] = torch.zeros((3, pp.crop_height, pp.crop_width), device=device)
                    continue
                rows[i] = torch.from_numpy(pp(image)).to(device)
                continue
            upright.append(orient(pixels, raw.orientation))
            ready.append(i)
        if upright:
            for row, i in zip(preprocess_batch(upright, pp), ready):
                rows[i] = row
    return torch.stack(rows), errors
