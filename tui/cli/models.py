"""The command line's model subcommands: caption, eval, train (handlers called by cli.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from clipgit.tui.progress_bar import ProgressBar

if TYPE_CHECKING:
    from clipgit.core.api import EngineAPI
    from clipgit.core.progress import Progress



def caption_library(engine: EngineAPI, args: argparse.Namespace, bar: ProgressBar, cancel: threading.Event) -> int:
    return _library_job(engine.caption_library_iter, args, bar, cancel)


def ocr_library(engine: EngineAPI, args: argparse.Namespace, bar: ProgressBar, cancel: threading.Event) -> int:
    """Read the text of the indexed folders' images; returns how many were read."""
    return _library_job(engine.ocr_library_iter, args, bar, cancel)


def _library_job(job: Callable[..., Iterator[Progress[None]]], args: argparse.Namespace, bar: ProgressBar,
                 cancel: threading.Event) -> int:
    """A library job (captions, text) over each folder indexed, with the progress bar; how many it did."""
    done = 0
    for root in args.paths:
        last = None
        for last in job(cancel, root=os.path.abspath(os.path.expanduser(root))):
            bar.update(last)
        done += last.done if last is not None else 0
    bar.close()
    return done


def ocr(engine: EngineAPI, args: argparse.Namespace) -> int:
    """Each file's text; an unreadable file gets a one-line reason on stderr and the others are still read."""
    from clipgit.core.names import display_name

    results = engine.ocr(args.paths)
    failed = [r for r in results if r.error]
    if args.json:
        print(json.dumps([r.as_dict() for r in results], ensure_ascii=False))
    else:
        for r in results:
            if r.text is not None:
                lines = [display_name(line) for line in r.text.split("\n")] if r.text else ["(no text)"]
                print(f"{display_name(r.path)}:\n  " + "\n  ".join(lines))
    for r in failed:
        print(f"clipgit-tui: skipped {display_name(r.path)}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def caption(engine: EngineAPI, args: argparse.Namespace) -> int:
    from clipgit.core.names import display_name

    results = engine.caption(args.paths, max_tokens=args.max_tokens, beams=args.beams)
    failed = [r for r in results if r.error]
    if args.json:
        print(json.dumps([r.as_dict() for r in results]))
    else:
        for r in results:
            if r.caption is not None:
                print(f"{display_name(r.path)}: {r.caption}")
    for r in failed:
        print(f"clipgit-tui: skipped {display_name(r.path)}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def evaluate(engine: EngineAPI, args: argparse.Namespace) -> int:
    from clipgit.core.names import display_name

    bar = ProgressBar(enabled=not args.quiet and sys.stderr.isatty())
    report = None
    for event in engine.evaluate_iter(args.dataset, captions=not args.no_captions):
        report = event.report or report
        bar.update(event)
    bar.close()
    assert report is not None
    if args.json:
        print(json.dumps(report.as_dict()))
        return 0
    print(f"{report.images} images, {report.captions} captions")
    for name, scores in (("text -> image", report.text_to_image), ("image -> text", report.image_to_text)):
        print(f"{name}: " + "  ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    if report.captioning:
        print("captioning: " + "  ".join(f"{k} {v:.3f}" for k, v in report.captioning.items()))
    for path, reason in report.problems:
        print(f"  skipped {display_name(path)}: {reason}")
    return 0


def train(settings: Any, args: argparse.Namespace) -> int:
    from pathlib import Path

    from clipgit.core.lab.dataset import load_dataset
    from clipgit.core.lab.train import train_iter
    from clipgit.core.names import display_name

    if not 0 <= args.val_fraction < 1:
        from clipgit.core.errors import ConfigError

        raise ConfigError("--val-fraction must be at least 0 and below 1")
    data = load_dataset(args.dataset)
    out = Path(os.path.abspath(os.path.expanduser(args.out)))
    show = not args.quiet and sys.stderr.isatty()
    bar = ProgressBar(enabled=show)
    best: dict[str, Any] = {}
    # --base goes through the settings' own model resolution, so `demo` and a relative folder mean there what
    # they mean to --clip-model
    base_clip = settings.with_(clip_model=args.base).clip_model if args.base else settings.clip_model
    events = train_iter(data, out, base_clip=base_clip,
                        base_git=settings.caption_model if args.captioner else None, epochs=args.epochs,
                        batch_size=args.batch_size or 32, lr=args.lr, val_fraction=args.val_fraction,
                        device=settings.device, precision=settings.precision, resume=args.resume,
                        cancel=threading.Event(), freeze_image_encoder=args.freeze_image_encoder)
    try:
        for ev in events:
            if ev.val is not None or ev.saved:
                best[ev.model] = {"epoch": ev.epoch, "val": ev.val, "best": ev.best, "dir": str(out / ev.model)}
                if not args.json:
                    bar.close()
                    metric = "val R@1" if ev.model == "clip" else "val loss"
                    val = "-" if ev.val is None else f"{ev.val:.3f}"
                    print(f"{ev.model} epoch {ev.epoch}/{ev.epochs}: {metric} {val}"
                          + (" (best, saved)" if ev.saved else ""), file=sys.stderr if show else sys.stdout)
            else:
                bar.update(ev)
    except KeyboardInterrupt:
        print(f"\nclipgit-tui: interrupted; checkpoint saved in {display_name(str(out))}, continue with --resume",
              file=sys.stderr)
        return 130
    bar.close()
    summary = {"models": best, "skipped": [{"path": p, "reason": r} for p, r in data.problems]}
    if args.json:
        print(json.dumps(summary))
    else:
        for name, info in best.items():
            print(f"{name}: saved in {display_name(info['dir'])} (use --{name}-model DIR)".replace(
                "--git-model", "--caption-model"))
        for path, reason in data.problems:
            print(f"  skipped {display_name(path)}: {reason}")
    return 0
