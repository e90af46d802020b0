"""Benchmark: each GPU JPEG decoder setting alone, on JPEG bytes already in memory (CUDA only).

Why: a card has two kinds of JPEG decoder, its hardware engines (A100, H100, H200) and its CUDA cores,
plus nvImageCodec's hybrid (Huffman on CPU threads, the rest on the card). torchvision's nvJPEG batch
call uses the hardware engines alone; nvImageCodec can split a batch between them. This prints, side by
side for each image size, what each setting decodes a second alone, and with clipgit's torch resize, crop
and normalise after it, so the engine's default can be chosen from figures.

    bash benchmarks/run_cuda.sh gpu_decoders.py --n 4096,512
"""

from __future__ import annotations

import argparse
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from common import Timer, table, unique_jpegs
from ingest_parts import gpu_rate

SETTINGS = ("hw", "hybrid", "hw:0.8,hybrid", "hw:0.65,hybrid", "hw:0.5,hybrid", "hw:adaptive,hybrid:adaptive",
            "hw:0.65,cuda")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--sizes", default="640x480,4000x3000")
    ap.add_argument("--n", default="4096,512", help="files per size")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--settings", default=",".join(s.replace(",", "+") for s in SETTINGS),
                    help="nvImageCodec settings to compare, + between backends, e.g. hw+cuda,hw:0.65+cuda")
    args = ap.parse_args()
    import torch

    from clipgit.core.decode import gpu_decode
    from clipgit.core.decode.image import Preprocess
    from clipgit.core.decode.jpeg_header import raw_jpeg

    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    counts = [int(v) for v in args.n.split(",")]
    counts += [counts[-1]] * (len(sizes) - len(counts))
    settings = [s.replace("+", ",") for s in args.settings.split(",") if s]
    pp = Preprocess()
    for size, n in zip(sizes, counts):
        folder = unique_jpegs(size, n)
        raws = [raw_jpeg(p.read_bytes(), 10**9) for p in sorted(folder.iterdir())[:n]]
        assert all(r is not None for r in raws), "a benchmark JPEG the GPU path refuses"
        decoders: list[tuple[str, Callable[[Sequence[Any]], list[Any]]]] = []
        if gpu_decode._imports("torchvision"):
            decoders.append(("torchvision (nvJPEG batch: the hardware engines where the card has them)",
                             lambda chunk: gpu_decode._torchvision_decode(chunk, args.device)))
        if gpu_decode._imports("nvimgcodec"):
            for spec in settings:
                decoders.append((f"nvImageCodec {spec}",
                                 lambda chunk, spec=spec: _nvimgcodec(chunk, args.device, spec)))
        lines = [("", "decode alone /s", "decode + resize /s")]
        best: dict[str, float] = {}
        for name, decode in decoders:
            try:
                alone = gpu_rate(raws, args.batch, decode, None, args.device)
                resized = gpu_rate(raws, args.batch, decode, pp, args.device)
                lines.append((name, f"{alone:,.0f}", f"{resized:,.0f}"))
                if name.startswith("nvImageCodec "):
                    best[name.removeprefix("nvImageCodec ")] = resized
                print(f"{size[0]}x{size[1]} {name}: {alone:,.0f} / {resized:,.0f}", flush=True)
            except Exception:
                traceback.print_exc()
        for label, resize in (("resize, crop, normalise alone: clipgit's matrix products", None),
                              ("the same with torch's interpolate(antialias=True)", _interpolate_batch)):
            try:
                rate = _resize_alone(raws[: args.batch], pp, args.device, resize)
                lines.append((label, "", f"{rate:,.0f}"))
            except Exception:
                traceback.print_exc()
        print()
        print(f"{n} JPEGs of {size[0]}x{size[1]}, {torch.cuda.get_device_name()}, batch {args.batch}")
        print(table(lines), flush=True)
        if best:
            print(f"best nvImageCodec setting at {size[0]}x{size[1]}: {max(best, key=lambda k: best[k])}", flush=True)


def _nvimgcodec(chunk: Sequence[Any], device: str, spec: str) -> list[Any]:
    from clipgit.core.decode import gpu_decode

    images = gpu_decode._nvimgcodec_decode(chunk, device, spec)
    if images is None or any(image is None for image in images):
        raise RuntimeError(f"nvImageCodec {spec} did not decode the batch")
    return images


def _resize_alone(raws: list[Any], pp: Any, device: str, resize: Any, repeats: int = 4) -> float:
    import torch

    from clipgit.core.decode import gpu_decode

    resize = resize or gpu_decode.preprocess_batch
    images = gpu_decode.decode_jpegs(raws, device)
    resize(images, pp)
    torch.cuda.synchronize(device)
    with Timer() as t:
        for _ in range(repeats):
            resize(images, pp)
        torch.cuda.synchronize(device)
    return len(images) * repeats / t.wall


def _interpolate_batch(images: list[Any], pp: Any) -> Any:
    """The previous round's resize: torch's antialiased bicubic interpolate, a few photos at a time (the
    naive way on the card, kept here to compare)."""
    import torch
    import torch.nn.functional as F

    h, w = int(images[0].shape[1]), int(images[0].shape[2])
    (nw, nh), left, top = pp.layout(w, h)
    out = []
    for start in range(0, len(images), max(1, (1 << 27) // (h * w))):
        batch = torch.stack(images[start:start + max(1, (1 << 27) // (h * w))]).float()
        batch = F.interpolate(batch, size=(nh, nw), mode="bicubic", antialias=True, align_corners=False)
        out.append(batch.round_().clamp_(0, 255)[:, :, top:top + pp.crop_height, left:left + pp.crop_width] / 255)
    return torch.cat(out)


if __name__ == "__main__":
    main()
