"""`clipgit-tui`: no subcommand opens the app; subcommands serve scripts.

argparse only, and nothing heavy imported at module level, so `--help`
answers at once; torch loads when a subcommand needs a model. Exit codes:
0 success, 2 bad usage, 1 failure with one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import Any, Sequence

SUBCOMMANDS = ("index", "search", "similar", "caption", "eval", "train", "status", "forget", "app")


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("settings (flags win over CLIPGIT_* env vars, which win over the config file)")
    g.add_argument("--data-dir", help="where the library lives (env CLIPGIT_DATA_DIR)")
    g.add_argument("--clip-model", help="CLIP hub id or local folder (env CLIPGIT_CLIP_MODEL)")
    g.add_argument("--caption-model", help="GIT hub id or local folder (env CLIPGIT_CAPTION_MODEL)")
    g.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), help="env CLIPGIT_DEVICE")
    g.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), help="env CLIPGIT_PRECISION")
    g.add_argument("--batch-size", type=int, help="images per inference batch (env CLIPGIT_BATCH_SIZE)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clipgit-tui",
        description="Search your own image folders by meaning. With no subcommand, opens the terminal app "
        "(optionally indexing the PATHs given).",
        epilog="Run 'clipgit-tui SUBCOMMAND --help' for each subcommand's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")

    p = sub.add_parser("app", help="open the terminal app (the default)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="folders to add and index in the background")
    p.add_argument("--captions", action="store_true", default=None,
                   help="caption the whole library in the background (config: captions = true)")
    _common(p)

    p = sub.add_parser("index", help="add folders to the library and index new/changed images")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--captions", action="store_true", default=None,
                   help="then caption every image with GIT (config: captions = true)")
    _common(p)

    for name, helptext, what in (
        ("search", "search by text, image files, or both: \"beach + 2:sunset - people\"", "QUERY"),
        ("similar", "images like the given one (it is left out of its own results)", "IMAGE"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("query", metavar=what, nargs="+" if name == "search" else None)
        p.add_argument("--top", "-n", type=_positive, default=10, help="how many results (default 10)")
        p.add_argument("--in", dest="folder", metavar="FOLDER", help="only results under this folder")
        p.add_argument("--json", action="store_true", help="print a JSON array of {path, score, ...}")
        if name == "search":
            p.add_argument("--mode", choices=("auto", "clip", "caption", "hybrid"), default="auto",
                           help="clip similarity, caption words, or both fused; auto: hybrid once captions exist")
        _common(p)

    p = sub.add_parser("caption", help="caption image files with GIT (library images come from the cache)")
    p.add_argument("paths", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="print a JSON array of {path, caption}")
    p.add_argument("--max-tokens", type=_positive, help="longest caption in tokens (default 30)")
    p.add_argument("--beams", type=_positive, help="beam search width (default 1: greedy)")
    _common(p)

    p = sub.add_parser("eval", help="how well the current models retrieve and caption a captioned dataset")
    p.add_argument("dataset", metavar="DATASET",
                   help="a folder with captions.jsonl, captions.csv, or name.txt beside each image")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-captions", action="store_true", help="skip captioning (BLEU-4, CIDEr-D)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _common(p)

    p = sub.add_parser("train", help="fine-tune CLIP (and with --captioner GIT) on a captioned dataset")
    p.add_argument("dataset", metavar="DATASET", help="a captioned dataset folder, as for eval")
    p.add_argument("--out", required=True, metavar="DIR", help="where DIR/clip (and DIR/git) are saved")
    p.add_argument("--base", metavar="MODEL", help="CLIP to start from (default: the current --clip-model)")
    p.add_argument("--captioner", action="store_true", help="also fine-tune the caption model on the captions")
    p.add_argument("--epochs", type=_positive, default=5)
    p.add_argument("--lr", type=float, default=5e-5, help="learning rate (default 5e-5)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="images held out for validation (0.1)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--json", action="store_true", help="print the best validation figures as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _common(p)

    p = sub.add_parser("status", help="data dir, models, device, folders and counts")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("forget", help="drop a folder (or a sub-folder) from the library")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true")
    _common(p)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0] not in SUBCOMMANDS and args_list[0] not in ("-h", "--help")):
        args_list = ["app", *args_list]
    parser = build_parser()
    args = parser.parse_args(args_list)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("clipgit-tui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # the one place a failure becomes a message
        from core.errors import ClipgitError, ConfigError, QueryError

        if os.environ.get("CLIPGIT_DEBUG"):
            raise
        code = 2 if isinstance(exc, (ConfigError, QueryError)) else 1
        text = str(exc) if isinstance(exc, ClipgitError) else f"unexpected {type(exc).__name__}: {exc}"
        print(f"clipgit-tui: error: {_one_line(text)}", file=sys.stderr)
        return code


def _one_line(text: str) -> str:
    from core.names import display_name

    return display_name(" ".join(text.split()))


def _settings(args: argparse.Namespace) -> Any:
    from core.config import Settings

    return Settings.load(data_dir=args.data_dir, clip_model=args.clip_model, caption_model=args.caption_model,
                         device=args.device, precision=args.precision, batch_size=args.batch_size,
                         captions=getattr(args, "captions", None))


def _dispatch(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.command == "app":
        from .run_app import run_app

        return run_app(settings, args.paths)
    if args.command == "train":
        return _train(settings, args)
    from core.engine import Engine

    with Engine(settings) as engine:
        return {"index": _index, "search": _search, "similar": _search, "status": _status,
                "forget": _forget, "caption": _caption, "eval": _eval}[args.command](engine, args)


def _index(engine: Any, args: argparse.Namespace) -> int:
    from core.names import display_name

    bar = ProgressBar(enabled=not args.quiet and sys.stderr.isatty())
    cancel = threading.Event()
    report = None
    try:
        for event in engine.index_iter(args.paths, cancel):
            report = event.report
            bar.update(event)
    except KeyboardInterrupt:
        cancel.set()
        bar.close()
        print("clipgit-tui: interrupted; what was indexed is saved, run again to resume", file=sys.stderr)
        return 130
    bar.close()
    assert report is not None
    summary = report.as_dict()
    if engine.settings.captions and not cancel.is_set():
        try:
            summary["captioned"] = _caption_library(engine, args, bar, cancel)
        except KeyboardInterrupt:
            cancel.set()
            bar.close()
            print("clipgit-tui: interrupted; captions so far are saved", file=sys.stderr)
            return 130
        except Exception as exc:  # embeddings are saved; say why captions are missing, then fail
            from core.errors import ModelUnavailable

            if not isinstance(exc, ModelUnavailable):
                raise
            print(f"clipgit-tui: error: images indexed, but no captions: {_one_line(str(exc))}", file=sys.stderr)
            if args.json:
                print(json.dumps(summary))
            return 1
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"new {report.new}, changed {report.changed}, moved {report.moved}, removed {report.removed}, "
          f"unchanged {report.unchanged}, skipped {len(report.skipped)} ({report.seconds:.1f} s)")
    for path, reason in report.skipped:
        print(f"  skipped {display_name(path)}: {reason}")
    if "captioned" in summary:
        print(f"captioned {summary['captioned']}")
    return 0


def _caption_library(engine: Any, args: argparse.Namespace, bar: "ProgressBar", cancel: threading.Event) -> int:
    done = 0
    for root in args.paths:
        last = None
        for last in engine.caption_library_iter(cancel, root=os.path.abspath(os.path.expanduser(root))):
            bar.update_captions(last)
        done += last.done if last is not None else 0
    bar.close()
    return done


def _caption(engine: Any, args: argparse.Namespace) -> int:
    from core.names import display_name

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


def _search(engine: Any, args: argparse.Namespace) -> int:
    from core.names import display_name

    if args.command == "search":
        results = engine.search(" ".join(args.query), top=args.top, folder=args.folder, mode=args.mode)
    else:
        results = engine.similar(args.query, top=args.top, folder=args.folder)
    if args.json:
        print(json.dumps([r.as_dict() for r in results]))
    else:
        if not results:
            print("no results: the library is empty for this model (run 'clipgit-tui index FOLDER')",
                  file=sys.stderr)
        for r in results:
            caption = f"  ({display_name(r.caption)})" if r.caption else ""
            print(f"{r.score:.4f}  {display_name(r.path)}{caption}")
    return 0


def _eval(engine: Any, args: argparse.Namespace) -> int:
    from core.names import display_name

    show = not args.quiet and sys.stderr.isatty()
    report = None
    for event in engine.evaluate_iter(args.dataset, captions=not args.no_captions):
        if event.report is not None:
            report = event.report
        elif show:
            sys.stderr.write(f"\r{event.phase}: {event.done}/{event.total}\x1b[K")
            sys.stderr.flush()
    if show:
        sys.stderr.write("\r\x1b[K")
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


def _train(settings: Any, args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.dataset import load_dataset
    from core.names import display_name
    from core.train import train_iter

    if not 0 <= args.val_fraction < 1:
        from core.errors import ConfigError

        raise ConfigError("--val-fraction must be at least 0 and below 1")
    data = load_dataset(args.dataset)
    out = Path(os.path.abspath(os.path.expanduser(args.out)))
    show = not args.quiet and sys.stderr.isatty()
    best: dict[str, Any] = {}
    events = train_iter(data, out, base_clip=args.base or settings.clip_model,
                        base_git=settings.caption_model if args.captioner else None, epochs=args.epochs,
                        batch_size=args.batch_size or 32, lr=args.lr, val_fraction=args.val_fraction,
                        device=settings.device, precision=settings.precision, resume=args.resume,
                        cancel=threading.Event())
    try:
        for ev in events:
            if ev.val is not None or ev.saved:
                best[ev.model] = {"epoch": ev.epoch, "val": ev.val, "best": ev.best, "dir": str(out / ev.model)}
                if not args.json:
                    metric = "val R@1" if ev.model == "clip" else "val loss"
                    val = "-" if ev.val is None else f"{ev.val:.3f}"
                    print(f"{ev.model} epoch {ev.epoch}/{ev.epochs}: {metric} {val}"
                          + (" (best, saved)" if ev.saved else ""), file=sys.stderr if show else sys.stdout)
            elif show:
                eta = "" if ev.eta is None else f" ETA {int(ev.eta) // 60}:{int(ev.eta) % 60:02d}"
                sys.stderr.write(f"\r{ev.model} epoch {ev.epoch}/{ev.epochs} step {ev.step}/{ev.steps} "
                                 f"loss {ev.loss:.3f}{eta}\x1b[K")
                sys.stderr.flush()
    except KeyboardInterrupt:
        print(f"\nclipgit-tui: interrupted; checkpoint saved in {display_name(str(out))}, continue with --resume",
              file=sys.stderr)
        return 130
    if show:
        sys.stderr.write("\r\x1b[K")
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


def _status(engine: Any, args: argparse.Namespace) -> int:
    from core.names import display_name

    st = engine.status()
    if args.json:
        print(json.dumps(st.as_dict()))
        return 0
    print(f"data dir   {display_name(st.data_dir)}")
    print(f"CLIP model {display_name(st.clip_model)}")
    print(f"device     {st.device} ({st.precision})")
    print(f"images     {st.images} indexed, {st.skipped} skipped")
    print(f"captions   {st.captions} by {display_name(st.caption_model)}")
    print(f"folders    {len(st.folders)}")
    for f in st.folders:
        missing = "" if f.exists else "  (folder missing)"
        print(f"  {f.images:>8} images  {f.skipped:>5} skipped  {display_name(f.path)}{missing}")
    return 0


def _forget(engine: Any, args: argparse.Namespace) -> int:
    from core.names import display_name

    dropped = {p: engine.forget(p) for p in args.paths}
    if args.json:
        print(json.dumps({"forgotten": [{"path": os.path.abspath(p), "files": n} for p, n in dropped.items()]}))
    else:
        for path, n in dropped.items():
            print(f"forgot {display_name(os.path.abspath(path))} ({n} files)")
    return 0


class ProgressBar:
    """A one-line bar on stderr, redrawn at most 10 times a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = 0.0
        self._shown = False

    def update(self, event: Any) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if event.phase == "embedding" and (now - self._last > 0.1 or event.done == event.total):
            self._last = now
            width = 30
            frac = event.done / event.total if event.total else 1.0
            eta = "" if event.eta is None else f" ETA {int(event.eta) // 60}:{int(event.eta) % 60:02d}"
            line = (f"\r[{'#' * int(frac * width):<{width}}] {event.done}/{event.total} "
                    f"{event.rate:.1f} img/s{eta}")
            sys.stderr.write(line + "\x1b[K")
            sys.stderr.flush()
            self._shown = True
        elif event.phase == "scanning":
            sys.stderr.write("\rscanning…\x1b[K")
            sys.stderr.flush()
            self._shown = True

    def update_captions(self, event: Any) -> None:
        if not self.enabled or not event.total:
            return
        now = time.monotonic()
        if now - self._last > 0.1 or event.done == event.total:
            self._last = now
            frac = event.done / event.total
            eta = "" if event.eta is None else f" ETA {int(event.eta) // 60}:{int(event.eta) % 60:02d}"
            sys.stderr.write(f"\rcaptions [{'#' * int(frac * 30):<30}] {event.done}/{event.total} "
                             f"{event.rate:.2f}/s{eta}\x1b[K")
            sys.stderr.flush()
            self._shown = True

    def close(self) -> None:
        if self.enabled and self._shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
