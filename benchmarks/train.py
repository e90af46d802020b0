"""Benchmark 6: training speed of `train` on this machine, and the demo recipe's wall time.

Prints examples per second of CLIP contrastive training (tiny test architecture,
the demo architecture, and full-size ViT-B/32 with random weights) and of GIT
language-model training (demo architecture), each for a few steps of the real
core.lab.train loop. With --demo it also trains the demo models from scratch with
the recipe (scripts/make_demo_models.py, into a temporary folder: the shipped
ones stay) and prints the wall time beside the quality reached and the
quality the demo needs.

    python benchmarks/train.py [--steps 6] [--batch 32] [--demo]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from common import full_clip_dir, table, tiny_clip_dir


def rate(data, base_clip, base_git, steps: int, batch: int, model: str) -> float:
    from clipgit.core.lab.train import train_iter

    out = Path(tempfile.mkdtemp(prefix="clipgit-train-bench-"))
    started, seen = None, 0
    for ev in train_iter(data, out, base_clip=base_clip, base_git=base_git, epochs=1, batch_size=batch,
                         lr=1e-4, val_fraction=0.0, device="cpu", precision="auto", resume=False,
                         cancel=threading.Event()):
        if ev.model != model or ev.val is not None or ev.saved:
            continue
        if started is None:  # the first step pays for warm-up
            started = time.perf_counter()
            continue
        seen += 1
        if seen >= steps:
            break
    assert started is not None
    return steps * batch / (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--demo", action="store_true", help="also time the demo recipe from scratch (~75 min)")
    args = ap.parse_args()

    from clipgit.core.lab.dataset import load_dataset
    from clipgit.core.lab.demo_recipe import IMAGE, PATCH, build_small
    from clipgit.core.lab.shapes import make_gallery

    work = Path(tempfile.mkdtemp(prefix="clipgit-train-bench-"))
    make_gallery(work / "data", args.batch * (args.steps + 2), seed=3, size=(IMAGE, IMAGE), two_shape_fraction=0.5)
    data = load_dataset(str(work / "data"))
    demo_clip, demo_git = build_small(work)
    rows = [("", "examples/s")]
    tiny = rate(data, str(tiny_clip_dir()), None, args.steps, args.batch, "clip")
    rows.append(("CLIP, tiny test architecture", f"{tiny:.1f}"))
    rows.append((f"CLIP, demo architecture (3 layers, 128 wide, {IMAGE} px, patches of {PATCH})",
                 f"{rate(data, str(demo_clip), None, args.steps, args.batch, 'clip'):.1f}"))
    git = rate(data, str(demo_clip), str(demo_git), args.steps, args.batch, "git")
    rows.append(("GIT, demo architecture", f"{git:.1f}"))
    rows.append(("CLIP, full-size ViT-B/32", f"{rate(data, str(full_clip_dir()), None, 3, 16, 'clip'):.2f}"))
    print()
    print(f"core.lab.train on {os.cpu_count()} cores, bf16 autocast where the CPU has it, batch {args.batch} "
          f"(16 for ViT-B/32)")
    print(table(rows))
    if args.demo:
        demo_to_quality()


def demo_to_quality() -> None:
    from clipgit.core.lab.demo_recipe import RECIPE, make

    result = make(Path(tempfile.mkdtemp(prefix="clipgit-demo-bench-")), **RECIPE,
                  log=lambda line: print(line, flush=True))
    f = result["figures"]
    cycles = " then ".join(f"{e} epochs at {lr:g}" for e, lr in RECIPE["clip_cycles"])
    rows = [(f"demo models from scratch (draw {RECIPE['images']:,} pictures, CLIP {cycles}, GIT "
             f"{RECIPE['git_epochs']} epochs, fp32)", "reached", "needed"),
            ("class precision@1, single shapes", f"{f['single']['class_P@1']:.3f}", ">= 0.95"),
            ("class precision@1, two shapes", f"{f['two']['class_P@1']:.3f}", ">= 0.6"),
            ("exact captions, single shapes", f"{f['single']['exact captions']:.3f}", ">= 0.9"),
            ("class precision@1, single shapes drawn other ways", f"{f['varied single']['class_P@1']:.3f}", ">= 0.95"),
            ("class precision@1, two shapes drawn other ways", f"{f['varied two']['class_P@1']:.3f}", ">= 0.6"),
            ("exact captions, single shapes drawn other ways", f"{f['varied single']['exact captions']:.3f}",
             ">= 0.9"),
            ("wall time", f"{result['seconds'] / 60:.1f} min", "")]
    print()
    print(f"the demo recipe on {os.cpu_count()} cores")
    print(table(rows))


if __name__ == "__main__":
    main()
