"""Train the offline demo models (the recipe lives in clipgit.core.lab.demo_recipe).

    python scripts/make_demo_models.py [--out core/demo_models] [--images 48000] [--epochs 14,16] [--lr 1e-3,5e-4]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    from clipgit.core.lab.demo_recipe import RECIPE, make

    cycles = RECIPE["clip_cycles"]
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "core" / "demo_models"))
    ap.add_argument("--images", type=int, default=RECIPE["images"])
    ap.add_argument("--epochs", default=",".join(str(e) for e, _ in cycles),
                    help="CLIP's epochs per cycle (each cycle starts from the last one's best epoch)")
    ap.add_argument("--lr", default=",".join(f"{lr:g}" for _, lr in cycles), help="CLIP's peak rate per cycle")
    ap.add_argument("--git-epochs", type=int, default=RECIPE["git_epochs"])
    ap.add_argument("--git-lr", type=float, default=RECIPE["git_lr"])
    ap.add_argument("--batch-size", type=int, default=RECIPE["batch_size"], help="CLIP's (contrastive: more negatives)")
    ap.add_argument("--git-batch-size", type=int, default=RECIPE["git_batch_size"], help="GIT's (more, smaller steps)")
    ap.add_argument("--reuse-clip", metavar="DIR", help="a demo CLIP trained before: train only GIT")
    args = ap.parse_args()
    epochs, rates = [int(e) for e in args.epochs.split(",")], [float(r) for r in args.lr.split(",")]
    if len(epochs) != len(rates):
        ap.error("--epochs and --lr need as many values each (one per cycle)")
    result = make(Path(args.out), images=args.images, clip_cycles=list(zip(epochs, rates)),
                  git_epochs=args.git_epochs, git_lr=args.git_lr, batch_size=args.batch_size,
                  git_batch_size=args.git_batch_size, log=lambda line: print(line, flush=True),
                  reuse_clip=Path(args.reuse_clip) if args.reuse_clip else None)
    for name, figures in result["figures"].items():
        print(f"fresh {name}-shape pictures: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
