"""Benchmark 1: index N photo-sized JPEGs with the full-size (random) ViT-B/32.

Prints, side by side: our pipeline (Engine.index), the naive loop of the
origin README (full decode, CLIPProcessor, model at batch 1, fp32), and the
limit of this machine: cores / (model CPU-s per image at its best batch and
precision + fast-decode CPU-s per image), each part timed alone in this run.

    python benchmarks/ingest.py [--n 48] [--device cpu|cuda] [--batch-sizes 8,16,32]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile

from common import Timer, full_clip_dir, photo_folder, table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--naive-n", type=int, default=12, help="images for the (slow) naive loop")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--batch-sizes", default="8,16,32")
    args = ap.parse_args()

    import numpy as np
    import torch
    from PIL import Image
    from transformers import CLIPModel, CLIPProcessor

    from clipgit.core.config import Settings
    from clipgit.core.engine import Engine
    from clipgit.core.hub import dtype_name, resolve_dtype
    from clipgit.core.images import decode, read_bytes

    model_dir = full_clip_dir()
    folder = photo_folder(args.n)
    files = sorted(str(p) for p in folder.iterdir())[: args.n]
    cores = os.cpu_count() or 1
    dtype = resolve_dtype(args.precision, args.device)

    # the limit, part 1: the model alone on pre-made tensors, at each batch size
    model = CLIPModel.from_pretrained(model_dir, dtype=dtype).to(args.device).eval()
    best_bs, best_cpu, best_wall = 0, float("inf"), float("inf")
    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        x = torch.randn(bs, 3, 224, 224).to(args.device, dtype=dtype)
        with torch.inference_mode():
            model.get_image_features(pixel_values=x)  # warm-up
            reps = max(1, 64 // bs)
            with Timer() as t:
                for _ in range(reps):
                    model.get_image_features(pixel_values=x)
                if args.device == "cuda":
                    torch.cuda.synchronize()
        cpu_per, wall_per = t.cpu / (reps * bs), t.wall / (reps * bs)
        print(f"model alone, batch {bs:>3} {dtype_name(dtype)}: {1 / wall_per:7.1f} img/s  "
              f"({cpu_per * 1000:.1f} CPU-ms/img)")
        if wall_per < best_wall:
            best_bs, best_cpu, best_wall = bs, cpu_per, wall_per
    del model

    # the limit, part 2: the fast decode alone (read, fingerprint, draft decode, resize, normalise)
    from clipgit.core.images import Preprocess, fingerprint

    pp = Preprocess()
    with Timer() as t:
        for f in files:
            data = read_bytes(f)
            fingerprint(data)
            img, _, _ = decode(data, draft_size=pp.draft_size)
            pp(img)
    decode_cpu = t.cpu / len(files)
    if args.device == "cpu":
        limit = cores / (best_cpu + decode_cpu)
    else:  # the GPU runs the model; the cores only decode
        limit = min(1 / best_wall, cores / decode_cpu)

    # ours: the real pipeline through the engine, fresh data dir
    data_dir = tempfile.mkdtemp(prefix="clipgit-bench-")
    settings = Settings(data_dir=data_dir, clip_model=str(model_dir), device=args.device,
                        precision=args.precision, batch_size=best_bs)
    with Engine(settings) as engine:
        engine.load_model()
        with Timer() as t:
            report = engine.index([str(folder)])
        assert report.embedded == len(files), report
    ours = len(files) / t.wall
    shutil.rmtree(data_dir, ignore_errors=True)

    # the naive loop of the origin README
    naive_files = files[: args.naive_n]
    model = CLIPModel.from_pretrained(model_dir, dtype=torch.float32).to(args.device).eval()
    proc = CLIPProcessor.from_pretrained(model_dir)
    with torch.inference_mode(), Timer() as t:
        for f in naive_files:
            inputs = proc(images=Image.open(f).convert("RGB"), return_tensors="pt").to(args.device)
            vec = model.get_image_features(**inputs).pooler_output
            _ = (vec / vec.norm()).cpu().numpy()
    naive = len(naive_files) / t.wall

    print()
    print(f"{len(files)} JPEGs 4000x3000, ViT-B/32 (random weights), device {args.device}, {cores} cores")
    print(table([
        ("", "images/s", "vs naive", "of limit"),
        ("ours (Engine.index)", f"{ours:.2f}", f"{ours / naive:.1f}x", f"{ours / limit:.0%}"),
        ("naive loop (fp32, batch 1)", f"{naive:.2f}", "1.0x", f"{naive / limit:.0%}"),
        (f"limit (model bs {best_bs} {dtype_name(dtype)} + fast decode)", f"{limit:.2f}", f"{limit / naive:.1f}x",
         "100%"),
    ]))
    print(f"model alone {best_cpu * 1000:.1f} CPU-ms/img, fast decode alone {decode_cpu * 1000:.1f} CPU-ms/img")
    print(f"targets: >= 6x naive ({'met' if ours >= 6 * naive else 'NOT met'}), "
          f">= 80% of limit ({'met' if ours >= 0.8 * limit else 'NOT met'})")
    _ = np


if __name__ == "__main__":
    main()
