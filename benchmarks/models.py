"""Benchmark: each recommended model family at full size (random weights, the real architectures), side by side.

Prints per model: parameters and download size (fp32 safetensors, counted from the architecture, the
real vocabulary included), embedding size, image embeddings per second (batch 32 at the machine's best
precision), one text query's latency, and the memory the weights take; writes core/models/model_figures.json,
which `clipgit-tui models` shows.

    python benchmarks/models.py [--device cpu|cuda] [--images 64]
"""

from __future__ import annotations

import argparse
import json
import os
import time

from common import ROOT, median, table

ARCHITECTURES = {
    # id: (family, vision config, text vocabulary, text length, projection)
    "openai/clip-vit-base-patch32": ("clip", dict(image_size=224, patch_size=32), 49408, 77),
    "google/siglip2-base-patch32-256": ("siglip", dict(image_size=256, patch_size=32), 256000, 64),
    "google/siglip2-base-patch16-224": ("siglip", dict(image_size=224, patch_size=16), 256000, 64),
}


def build(family: str, vision: dict[str, int], vocab: int, length: int, device: str = "meta") -> object:
    import torch
    from transformers import CLIPConfig, CLIPModel, SiglipConfig, SiglipModel

    with torch.device(device):
        if family == "clip":
            return CLIPModel(CLIPConfig(text_config=dict(vocab_size=vocab, max_position_embeddings=length),
                                        vision_config=vision))
        return SiglipModel(SiglipConfig(text_config=dict(vocab_size=vocab, max_position_embeddings=length),
                                        vision_config=vision))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--images", type=int, default=0, help="images to time (default 64 on a CPU, 8192 on a GPU)")
    ap.add_argument("--batch", type=int, default=0, help="batch size (default 32 on a CPU, 256 on a GPU)")
    args = ap.parse_args()
    cuda = args.device.startswith("cuda")
    per_batch = args.batch or (256 if cuda else 32)
    images = args.images or (8192 if cuda else 64)
    import torch

    from clipgit.core.models.hub import dtype_name, resolve_dtype

    dtype = resolve_dtype("auto", args.device)
    rows = [("model", "params", "download", "dim", "images/s", "text query", "weights in memory")]
    figures: dict[str, dict[str, object]] = {}
    for model_id, (family, vision, vocab, length) in ARCHITECTURES.items():
        meta = build(family, vision, vocab, length)
        params = sum(p.numel() for p in meta.parameters())
        torch.manual_seed(0)
        model = build(family, vision, vocab, length, device="cpu").to(args.device, dtype=dtype).eval()
        size = vision["image_size"]
        batch = torch.randn(per_batch, 3, size, size, device=args.device, dtype=dtype)
        tokens = torch.randint(0, 1000, (1, length), device=args.device)
        with torch.inference_mode():
            model.get_image_features(pixel_values=batch)
            if cuda:
                torch.cuda.synchronize()
            started = time.perf_counter()
            for _ in range(max(1, images // per_batch)):
                model.get_image_features(pixel_values=batch)
            if cuda:
                torch.cuda.synchronize()
            rate = max(1, images // per_batch) * per_batch / (time.perf_counter() - started)
            text = []
            for _ in range(7):
                started = time.perf_counter()
                model.get_text_features(input_ids=tokens)
                if cuda:
                    torch.cuda.synchronize()
                text.append(time.perf_counter() - started)
        dim = int(getattr(model.config, "projection_dim", 0) or model.config.vision_config.hidden_size)
        weights_mb = params * torch.finfo(dtype).bits / 8 / 2**20
        download_mb = params * 4 / 2**20
        figures[model_id] = {"params_m": round(params / 1e6, 1), "download_mb": round(download_mb),
                             "dim": dim, "images_per_s": round(rate, 1), "text_ms": round(median(text) * 1000, 1),
                             "memory_mb": round(weights_mb), "device": f"{args.device} {dtype_name(dtype)}, "
                                                                        f"{os.cpu_count()} cores"}
        rows.append((model_id, f"{params / 1e6:.0f} M", f"{download_mb:,.0f} MB", str(dim), f"{rate:.1f}",
                     f"{median(text) * 1000:.0f} ms", f"{weights_mb:,.0f} MB ({dtype_name(dtype)})"))
        del model, meta
    where = torch.cuda.get_device_name() if cuda else f"{os.cpu_count()} cores"
    print(f"full-size architectures, random weights, {args.device} {dtype_name(dtype)}, {where}, batch {per_batch}")
    print(table(rows))
    if args.device == "cpu":
        out = ROOT / "core" / "models" / "model_figures.json"
        out.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
        print("written to core/models/model_figures.json")


if __name__ == "__main__":
    main()
