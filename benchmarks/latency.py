"""Benchmark: whole-process answer times of the command line, cold (in-process) and warm (the service).

A library of 100,000 synthetic 512-d vectors is written straight into a catalog
(plus a few real JPEGs for `similar` and `caption`), with the full-size
ViT-B/32 and git-base (random weights). Each row is `clipgit-tui ...` run as a
new process, as a script would, p50/p95 over the runs.

    python benchmarks/latency.py [--vectors 100000] [--runs 20] [--cold-runs 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import CACHE, full_clip_dir, median, percentile, photo_folder, table


def git_dir() -> Path:
    from clipgit.core.lab.random_models import build_git

    target = CACHE / "git-base-random"
    if not (target / "model.safetensors").exists():
        build_git(target, tiny=False)
    return target


def synthetic_library(data_dir: Path, clip: str, n: int, photos: Path) -> None:
    """n random unit vectors under a made-up folder, plus the real photos indexed for real."""
    from clipgit.core.catalog import Catalog
    from clipgit.core.vectors import as_blob

    cat = Catalog(data_dir / "library.db")
    rng = np.random.default_rng(0)
    with cat.transaction():
        folder = cat.add_folder("/synthetic")
        for start in range(0, n, 10_000):
            vecs = rng.standard_normal((min(10_000, n - start), 512)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            for i, vec in enumerate(vecs, start=start):
                image = cat.upsert_image(folder, f"/synthetic/{i:06d}.jpg", 1000, 1, i.to_bytes(16, "big"), 640, 480,
                                         None)
                cat.add_embedding(image, clip, as_blob(vec))
    cat.close()


def timed(cmd: list[str], env: dict[str, str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        out.append(time.perf_counter() - started)
    return out


def row(name: str, times: list[float]) -> tuple[str, str, str]:
    return name, f"{median(times):.2f}", f"{percentile(times, 95):.2f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vectors", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--cold-runs", type=int, default=3)
    args = ap.parse_args()
    cli = str(Path(sys.executable).parent / "clipgit-tui")
    clip, git = str(full_clip_dir()), str(git_dir())
    photos = photo_folder(16)
    work = Path(tempfile.mkdtemp(prefix="clipgit-latency-"))
    env = dict(os.environ, CLIPGIT_DATA_DIR=str(work / "data"), CLIPGIT_CLIP_MODEL=clip, CLIPGIT_CAPTION_MODEL=git,
               HF_HUB_OFFLINE="1", CLIPGIT_CONFIG=str(work / "none.toml"))
    synthetic_library(work / "data", clip, args.vectors, photos)
    subprocess.run([cli, "index", str(photos), "-q", "--no-service"], env=env, check=True)
    subprocess.run([cli, "search", "warm the snapshot", "--no-service"], env=env, check=True, capture_output=True)
    one = str(sorted(photos.iterdir())[0])
    outside = work / "not-in-library"  # captions of library images are cached: caption files outside it
    outside.mkdir()
    for p in sorted(photos.iterdir())[:16]:
        os.link(p, outside / p.name)
    sixteen = [str(p) for p in sorted(outside.iterdir())]
    rows = [("command (whole process)", "p50 s", "p95 s")]
    subprocess.run([cli, "service", "stop"], env=env, capture_output=True)
    rows.append(row("search TEXT, in-process (--no-service)", timed([cli, "search", "a dog", "--no-service"], env,
                                                                     args.cold_runs)))
    rows.append(row("search TEXT, first call (starts the service)", timed([cli, "search", "a dog"], env, 1)))
    rows.append(row("search TEXT, warm service", timed([cli, "search", "a dog on a beach"], env, args.runs)))
    rows.append(row("similar LIBRARY-IMAGE, warm service", timed([cli, "similar", one], env, args.runs)))
    subprocess.run([cli, "service", "stop"], env=env, capture_output=True)
    rows.append(row("similar LIBRARY-IMAGE, no service (no torch)", timed([cli, "similar", one], env, args.runs)))
    rows.append(row("status", timed([cli, "status"], env, args.runs)))
    cap_cold = timed([cli, "caption", *sixteen, "--no-service", "--max-tokens", "30"], env, 1)
    subprocess.run([cli, "caption", sixteen[0]], env=env, check=True, capture_output=True)  # start + load GIT
    cap_warm = timed([cli, "caption", *sixteen, "--max-tokens", "30", "--beams", "1"], env, max(3, args.runs // 5))
    naive = timed([sys.executable, "-c", NAIVE, git, *sixteen], env, 1)
    rows.append(row("caption 16 images, in-process", cap_cold))
    rows.append(row("caption 16 images, warm service", cap_warm))
    rows.append(row("caption 16 images, naive loop (fp32, one at a time, own process)", naive))
    subprocess.run([cli, "service", "stop"], env=env, capture_output=True)
    print(f"{args.vectors:,} vectors + 16 JPEGs of 4000x3000, ViT-B/32 and git-base (random weights), "
          f"{os.cpu_count()} cores")
    print(table(rows))
    print(f"caption as a whole process: warm service {median(naive) / median(cap_warm):.1f}x the naive loop, "
          f"in-process {median(naive) / median(cap_cold):.1f}x")


# The naive loop of the origin README: full decode, the model's processor, fp32, one image at a time.
NAIVE = """
import sys, torch
from PIL import Image
from transformers import AutoModelForCausalLM, AutoProcessor
proc = AutoProcessor.from_pretrained(sys.argv[1], backend="pil")
model = AutoModelForCausalLM.from_pretrained(sys.argv[1]).eval()
for path in sys.argv[2:]:
    pixels = proc(images=Image.open(path).convert("RGB"), return_tensors="pt").pixel_values
    with torch.inference_mode():
        ids = model.generate(pixel_values=pixels, max_new_tokens=30)
    print(proc.batch_decode(ids, skip_special_tokens=True)[0])
"""

if __name__ == "__main__":
    main()
