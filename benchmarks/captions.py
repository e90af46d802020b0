"""Benchmark 5: captions per second with the full-size (random) git-base.

Prints, side by side: ours (Engine.caption: JPEG draft decode, batches on the
inference thread, bf16 on a CPU that has it), the naive loop (one image at a
time, full decode, the reference processor, fp32), and the model alone on
pre-made pixels at our batch size and precision (the limit). Random weights
rarely emit the end token, so every caption runs the full --max-tokens: the
same work for all three.

    python benchmarks/captions.py [--n 16] [--naive-n 4] [--batch 8] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import tempfile

from common import CACHE, Timer, photo_folder, table, unique_jpegs


def git_dir():
    from clipgit.core.lab.random_models import build_git

    target = CACHE / "git-base-random"
    if not (target / "model.safetensors").exists():
        build_git(target, tiny=False)
    return target


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--naive-n", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=30)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--copies", action="store_true",
                    help="n copies of 16 photos (unique bytes each): thousands of files in seconds, for a GPU")
    args = ap.parse_args()

    import torch
    from PIL import Image
    from transformers import AutoModelForCausalLM, AutoProcessor

    from clipgit.core.config import Settings
    from clipgit.core.engine import Engine
    from clipgit.core.models.hub import dtype_name, resolve_dtype

    model_dir = git_dir()
    folder = unique_jpegs((4000, 3000), args.n) if args.copies else photo_folder(args.n)
    files = sorted(str(p) for p in folder.iterdir())[: args.n]
    dtype = resolve_dtype(args.precision, args.device)

    ours: dict[str, float] = {}
    for gpu_decode in ((True, False) if args.device.startswith("cuda") else (False,)):
        settings = Settings(data_dir=tempfile.mkdtemp(prefix="clipgit-cap-"), caption_model=str(model_dir),
                            device=args.device, precision=args.precision, caption_batch_size=args.batch,
                            max_tokens=args.max_tokens, gpu_decode=gpu_decode)
        with Engine(settings) as engine:
            engine.load_captioner()
            engine.caption(files[:1])  # warm-up
            with Timer() as t:
                captions = engine.caption(files)
            assert all(c.caption is not None for c in captions)
        name = "JPEGs decoded on the GPU" if gpu_decode else "decoded by the CPU"
        ours[name] = len(files) / t.wall
        print(f"ours, {name}: {ours[name]:.2f} captions/s", flush=True)

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(args.device).eval()
    processor = AutoProcessor.from_pretrained(model_dir)
    pixels = torch.randn(args.batch, 3, 224, 224).to(args.device, dtype=dtype)
    with torch.inference_mode():
        model.generate(pixel_values=pixels[:1], max_new_tokens=2)
        with Timer() as t:
            model.generate(pixel_values=pixels, max_new_tokens=args.max_tokens, min_new_tokens=args.max_tokens)
    limit = args.batch / t.wall
    del model

    naive_model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).to(args.device).eval()
    with torch.inference_mode(), Timer() as t:
        for f in files[: args.naive_n]:
            pv = processor(images=Image.open(f).convert("RGB"), return_tensors="pt").pixel_values.to(args.device)
            ids = naive_model.generate(pixel_values=pv, max_new_tokens=args.max_tokens)
            processor.batch_decode(ids, skip_special_tokens=True)
    naive = args.naive_n / t.wall

    print()
    print(f"git-base (random weights), 4000x3000 JPEGs, {args.max_tokens} new tokens, device {args.device}, "
          f"{os.cpu_count()} cores")
    best = max(ours.values())
    print(table([
        ("", "captions/s", "s/caption", "vs naive"),
        *[(f"ours (Engine.caption, batch {args.batch}, {dtype_name(dtype)}, {name})", f"{rate:.2f}", f"{1 / rate:.2f}",
           f"{rate / naive:.1f}x") for name, rate in ours.items()],
        ("naive (one at a time, fp32)", f"{naive:.2f}", f"{1 / naive:.2f}", "1.0x"),
        (f"model alone (batch {args.batch}, {dtype_name(dtype)}, pre-made pixels)", f"{limit:.2f}",
         f"{1 / limit:.2f}", f"{limit / naive:.1f}x"),
    ]))
    print(f"target: >= 4x naive ({'met' if best >= 4 * naive else 'NOT met'})")


if __name__ == "__main__":
    main()
