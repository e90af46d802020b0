"""Benchmark: whole-process answer times of the command line, cold (in-process) and warm (the service).

A library of 100,000 synthetic 512-d vectors is written straight into a catalog
(plus a few real JPEGs for `similar` and `caption`), with the full-size
ViT-B/32 and git-base (random weights). Each row is `clipgit-tui ...` run as a
new process, as a script would, p50/p95 over the runs: in-process
(--no-service), the first call (which starts the service) and warm, side by
side. The app's row is launch-to-first-results of a query typed at launch.

    python benchmarks/latency.py [--vectors 100000] [--runs 20] [--cold-runs 3]
"""

from __future__ import annotations

import argparse
import json
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
    from clipgit.core.store.catalog import Catalog
    from clipgit.core.store.vectors import as_blob

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
               HF_HUB_OFFLINE="1", CLIPGIT_CONFIG=os.devnull)
    synthetic_library(work / "data", clip, args.vectors, photos)
    subprocess.run([cli, "index", str(photos), "-q", "--no-service"], env=env, check=True)
    subprocess.run([cli, "search", "warm the snapshot", "--no-service"], env=env, check=True, capture_output=True)
    one = str(sorted(photos.iterdir())[0])
    outside = work / "not-in-library"  # captions of library images are cached: caption files outside it
    outside.mkdir()
    for p in sorted(photos.iterdir())[:16]:
        os.link(p, outside / p.name)
    sixteen = [str(p) for p in sorted(outside.iterdir())]
    stop = [cli, "service", "stop"]
    rows = [("whole process", "in-process p50 / p95 s", "first call, starts the service s", "warm p50 / p95 s")]

    def side_by_side(name: str, cmd: list[str], warm_runs: int,
                     prepare: list[str] | None = None) -> tuple[list[float], list[float]]:
        subprocess.run(stop, env=env, capture_output=True)
        cold = timed([*cmd, "--no-service"], env, args.cold_runs)
        first = timed(cmd, env, 1) if prepare is None else []
        if prepare is not None:  # e.g. caption: the first call also loads GIT; time it apart
            first = timed(prepare, env, 1)
        warm = timed(cmd, env, warm_runs)
        rows.append((name, pair(cold), f"{first[0]:.2f}", pair(warm)))
        return cold, warm

    side_by_side("search TEXT", [cli, "search", "a dog on a beach"], args.runs)
    caption = [cli, "caption", *sixteen, "--max-tokens", "30", "--beams", "1"]
    cap_cold, cap_warm = side_by_side("caption 16 images", caption, max(3, args.runs // 5),
                                      prepare=[cli, "caption", sixteen[0]])
    subprocess.run(stop, env=env, capture_output=True)
    no_model = timed([cli, "similar", one], env, args.runs)  # no service running: runs without torch
    subprocess.run([cli, "search", "start it"], env=env, check=True, capture_output=True)
    rows.append(("similar LIBRARY-IMAGE (no model: no torch)", pair(no_model), "-",
                 pair(timed([cli, "similar", one], env, args.runs))))
    status_warm = timed([cli, "status"], env, args.runs)
    subprocess.run(stop, env=env, capture_output=True)
    rows.append(("status (no model)", pair(timed([cli, "status"], env, args.runs)), "-", pair(status_warm)))
    app_cold = launches(env, "a dog on a beach", args.cold_runs, service=False)
    first_app = launches(env, "a dog on a beach", 1, service=True)
    app_warm = launches(env, "a dog on a beach", args.runs, service=True)
    rows.append(("app: launch to first results", pair(app_cold), f"{first_app[0]:.2f}", pair(app_warm)))
    naive = timed([sys.executable, "-c", NAIVE, git, *sixteen], env, 1)
    subprocess.run(stop, env=env, capture_output=True)
    print(f"{args.vectors:,} vectors + 16 JPEGs of 4000x3000, ViT-B/32 and git-base (random weights), "
          f"{os.cpu_count()} cores; in-process = --no-service (the model loads in the command's own process)")
    print(table(rows))
    cold_cap, warm_cap = median(cap_cold), median(cap_warm)
    print(f"caption 16 images, naive loop (fp32, one at a time, own process): {median(naive):.2f} s; "
          f"as a whole process the warm service is {median(naive) / warm_cap:.1f}x it, "
          f"in-process {median(naive) / cold_cap:.1f}x")


def pair(times: list[float]) -> str:
    return f"{median(times):.2f} / {percentile(times, 95):.2f}"


def launches(env: dict[str, str], query: str, runs: int, *, service: bool) -> list[float]:
    """The app's launch-to-first-results (benchmarks/app_launch.py), each a new process."""
    probe = str(Path(__file__).with_name("app_launch.py"))
    env = dict(env, CLIPGIT_SERVICE="1" if service else "0")
    out = []
    for _ in range(runs):
        answer = subprocess.run([sys.executable, probe, str(time.time()), query], env=env, check=True,
                                capture_output=True, text=True)
        out.append(float(json.loads(answer.stdout.strip().splitlines()[-1])["seconds"]))
    return out


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
