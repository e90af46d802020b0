"""JPEG decode on the GPU: bytes in, model input out.

Why: a card embeds tens of thousands of images a second, but a CPU decode
pool feeds it a few hundred. On a CUDA device, JPEG bytes go to the card's decoder
(torchvision's nvJPEG, or nvImageCodec, batched), and the decoded
pixels are oriented, then resized, cropped and normalised where they already are
(`torch_preprocess`), with no trip through host memory. A file the card's decoder
refuses is decoded by Pillow instead. Called on the device-decode thread (or, on a
CPU, the inference thread).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from clipgit.core.decode.image import Preprocess, decode
from clipgit.core.decode.jpeg_header import RawJpeg
from clipgit.core.decode.torch_preprocess import preprocess_batch
from clipgit.core.errors import ImageUnreadable

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

    Why this order: on an H200 (in a sandbox) whole index runs were faster with torchvision (12 MP photos:
    550-617 a second against nvImageCodec's 400-456; at 640x480 4,084 against 3,363). nvImageCodec decodes
    12 MP photos faster alone (hardware engines and its hybrid CPU decoder together, 1,285 against 953), but
    its CPU threads then compete with the readers.
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


def decode_jpegs(raws: Sequence[RawJpeg], device: str) -> list[Any | None]:
    """RGB uint8 (3, H, W) tensors on the device, EXIF not applied; None where the decoder refused a file."""
    if jpeg_decoder() == "nvimgcodec" and device not in _NVIMGCODEC_FAILED:
        images = _nvimgcodec_decode(raws, device)
        if images is not None:
            return images
    return _torchvision_decode(raws, device) if _imports("torchvision") else [None] * len(raws)


_NVIMGCODEC_FAILED: set[str] = set()  # devices where nvImageCodec failed once: the next decoder takes over


BACKENDS_ENV = "CLIPGIT_NVIMGCODEC_BACKENDS"  # e.g. hw:0.65,cuda: nvImageCodec's decoders and their shares
DEFAULT_BACKENDS = "hw,cuda"
_BACKEND_KINDS = {"hw": "HW_GPU_ONLY", "cuda": "GPU_ONLY", "hybrid": "HYBRID_CPU_GPU", "cpu": "CPU_ONLY"}


def parse_backends(spec: str) -> list[tuple[str, float | None]]:
    """`hw:0.65,cuda` -> [("HW_GPU_ONLY", 0.65), ("GPU_ONLY", None)]: nvImageCodec backend kinds in the order
    they are asked, each with the share of a batch it takes (None: all it can; `adaptive`: -1, nvImageCodec
    balances the share to keep every decoder busy). Raises ValueError on a spec it cannot read."""
    out: list[tuple[str, float | None]] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        name, _, share = part.partition(":")
        if name not in _BACKEND_KINDS:
            raise ValueError(f"{BACKENDS_ENV}: unknown decoder {name!r} (one of {', '.join(_BACKEND_KINDS)})")
        if not share:
            out.append((_BACKEND_KINDS[name], None))
        elif share == "adaptive":
            out.append((_BACKEND_KINDS[name], -1.0))
        else:
            try:
                value = float(share)
            except ValueError:
                value = -1.0
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{BACKENDS_ENV}: share {share} of {name} is not in (0, 1]")
            out.append((_BACKEND_KINDS[name], value))
    if not out:
        raise ValueError(f"{BACKENDS_ENV}: no decoder named")
    return out


@functools.cache
def _nvimgcodec_state(device: str, spec: str = "") -> tuple[Any, Any] | None:
    """The decoder and its parameters; None if it will not start.

    Why several backends: the card's hardware JPEG engines and its CUDA cores are separate units, and a
    batch split between them decodes faster than either alone (DALI splits the same way)."""
    try:
        from nvidia import nvimgcodec

        index = int(device.split(":")[1]) if ":" in device else 0
        backends = []
        for kind, share in parse_backends(spec or os.environ.get(BACKENDS_ENV, DEFAULT_BACKENDS)):
            backend_kind = getattr(nvimgcodec.BackendKind, kind)
            if share is None:
                backends.append(nvimgcodec.Backend(backend_kind))
            elif share < 0:
                backends.append(nvimgcodec.Backend(backend_kind, load_hint=0.5, load_hint_policy=(
                    nvimgcodec.LoadHintPolicy.ADAPTIVE_MINIMIZE_IDLE_TIME)))
            else:
                backends.append(nvimgcodec.Backend(backend_kind, load_hint=share))
        decoder = nvimgcodec.Decoder(device_id=index, backends=backends)
        rgb = getattr(nvimgcodec.ColorSpec, "SRGB", None) or nvimgcodec.ColorSpec.RGB  # 0.9 / earlier names
        params = nvimgcodec.DecodeParams(apply_exif_orientation=False, color_spec=rgb)
    except Exception as exc:  # an API or library mismatch: torchvision's nvJPEG, or the CPU, decodes instead
        warnings.warn(f"nvImageCodec did not start ({exc}); using the next decoder", stacklevel=2)
        return None
    return decoder, params


def _nvimgcodec_decode(raws: Sequence[RawJpeg], device: str, spec: str = "") -> list[Any | None] | None:
    """The batch in one call to nvImageCodec, on the current CUDA stream; None in the list where it could not
    decode a file, None for the whole batch where the library itself failed."""
    import torch

    state = _nvimgcodec_state(device, spec)
    if state is None:
        _NVIMGCODEC_FAILED.add(device)
        return None
    decoder, params = state
    stream = torch.cuda.current_stream(device).cuda_stream
    try:
        from nvidia import nvimgcodec

        try:  # the bytes where they lie (a file's bytes, or the shared block), not a copy of 1-4 MB each
            streams = [nvimgcodec.CodeStream(np.frombuffer(r.data, dtype=np.uint8)) for r in raws]
        except TypeError:  # versions that take only bytes
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
        if len(ready) == len(items):  # every item a JPEG the card decoded: the batch as it comes, not re-stacked
            return preprocess_batch(upright, pp), errors
        if upright:
            for row, i in zip(preprocess_batch(upright, pp), ready):
                rows[i] = row
    return torch.stack(rows), errors
