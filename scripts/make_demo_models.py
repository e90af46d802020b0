"""Train the offline demo models (the recipe lives in clipgit.core.lab.demo_recipe).

    python scripts/make_demo_models.py [--out core/demo_models] [--images 12000] [--epochs 40]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "core" / "demo_models"))
    ap.add_argument("--images", type=int, default=12000)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--git-epochs", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=128, help="CLIP's (contrastive: more negatives)")
    ap.add_argument("--git-batch-size", type=int, default=32, help="GIT's (more, smaller steps)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--reuse-clip", metavar="DIR", help="a demo CLIP trained before: train only GIT")
    args = ap.parse_args()
    from clipgit.core.lab.demo_recipe import make

    result = make(Path(args.out), images=args.images, epochs=args.epochs, git_epochs=args.git_epochs,
                  batch_size=args.batch_size, git_batch_size=args.git_batch_size, lr=args.lr,
                  log=lambda line: print(line, flush=True),
                  reuse_clip=Path(args.reuse_clip) if args.reuse_clip else None)
    for name, figures in result["figures"].items():
        print(f"fresh {name}-shape pictures: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
