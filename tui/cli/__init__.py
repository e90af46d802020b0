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
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

FILTER_FLAGS = ("after", "before", "year", "camera", "ext", "text", "place", "country")
SUBCOMMANDS = ("index", "search", "similar", "dupes", "models", "caption", "ocr", "eval", "train", "status", "forget",
               "app", "demo", "service")

if TYPE_CHECKING:
    from clipgit.core.api import EngineAPI
    from clipgit.core.config import Settings
    from clipgit.core.engine import Engine



def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("settings (flags win over CLIPGIT_* env vars, which win over the config file)")
    g.add_argument("--data-dir", help="where the library lives (env CLIPGIT_DATA_DIR)")
    g.add_argument("--clip-model", help="CLIP hub id or local folder (env CLIPGIT_CLIP_MODEL)")
    g.add_argument("--caption-model", help="GIT hub id or local folder (env CLIPGIT_CAPTION_MODEL)")
    g.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), help="env CLIPGIT_DEVICE")
    g.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), help="env CLIPGIT_PRECISION")
    g.add_argument("--batch-size", type=int, help="images per inference batch (env CLIPGIT_BATCH_SIZE)")
    g.add_argument("--no-service", action="store_true",
                   help="run the models in this process, not in the warm service (env CLIPGIT_SERVICE=0)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clipgit-tui",
        description="Search your own image folders by meaning. With no subcommand, opens the terminal app "
        "(optionally indexing the PATHs given).",
        epilog="Run 'clipgit-tui SUBCOMMAND --help' for each subcommand's options.",
    )
    parser.add_argument("--version", action="version", version=f"clipgit-tui {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")

    p = sub.add_parser("app", help="open the terminal app (the default)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="folders to add and index in the background")
    p.add_argument("--captions", action="store_true", default=None,
                   help="caption the whole library in the background (config: captions = true)")
    p.add_argument("--ocr", action="store_true", default=None,
                   help="read the text in every image in the background (config: ocr = true)")
    _common(p)

    p = sub.add_parser("index", help="add folders to the library and index new/changed images")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--captions", action="store_true", default=None,
                   help="then caption every image with GIT (config: captions = true)")
    p.add_argument("--ocr", action="store_true", default=None,
                   help="then read the text in every image (config: ocr = true)")
    p.add_argument("--watch", action="store_true",
                   help="then keep watching: index new, changed, moved and deleted images as they happen")
    _common(p)

    for name, helptext, what in (
        ("search", "search by text, image files, or both: \"beach + 2:sunset - people\"", "QUERY"),
        ("similar", "images like the given one (it is left out of its own results)", "IMAGE"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("query", metavar=what, nargs="*" if name == "search" else None)  # filter flags alone browse
        p.add_argument("--top", "-n", type=_positive, default=10, help="how many results (default 10)")
        p.add_argument("--in", dest="folder", metavar="FOLDER", help="only results under this folder")
        p.add_argument("--json", action="store_true", help="print a JSON array of {path, score, ...}")
        if name == "search":
            p.add_argument("--mode", choices=("auto", "clip", "caption", "hybrid"), default="auto",
                           help="clip similarity, caption words, or both fused; auto: hybrid once captions exist")
            for flag, example in (("after", "2024-06-01"), ("before", "2024-09"), ("year", "2023"),
                                  ("camera", "pixel"), ("ext", "png,jpg"), ("text", "receipt"),
                                  ("place", "lisbon"), ("country", "pt")):
                p.add_argument(f"--{flag}", metavar=example.upper() if flag not in ("camera", "text") else "TEXT",
                               help=f"filter, as {flag}:{example} in the query")
            p.add_argument("--sort", choices=("score", "date", "name"), default="score",
                           help="order of the results (filters alone list by date)")
            p.add_argument("--exact", action="store_true",
                           help="scan every vector even past the approximate index's crossover (for checking)")
        _common(p)

    p = sub.add_parser("caption", help="caption image files with GIT (library images come from the cache)")
    p.add_argument("paths", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="print a JSON array of {path, caption}")
    p.add_argument("--max-tokens", type=_positive, help="longest caption in tokens (default 30)")
    p.add_argument("--beams", type=_positive, help="beam search width (default 1: greedy)")
    _common(p)

    p = sub.add_parser("ocr", help="print the text in image files (library images come from the cache)")
    p.add_argument("paths", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="print a JSON array of {path, text, lines}")
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
    p.add_argument("--base", metavar="MODEL", help="CLIP to start from: a hub id, a folder or 'demo' "
                   "(default: the current --clip-model)")
    p.add_argument("--captioner", action="store_true", help="also fine-tune the caption model on the captions")
    p.add_argument("--freeze-image-encoder", action="store_true",
                   help="with --captioner: train only the caption model's text side (keeps what its image encoder "
                   "knows; for small datasets)")
    p.add_argument("--epochs", type=_positive, default=5)
    p.add_argument("--lr", type=float, default=5e-5, help="learning rate (default 5e-5)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="images held out for validation (0.1)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--json", action="store_true", help="print the best validation figures as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _common(p)

    p = sub.add_parser("demo", help="try the app offline: a gallery of coloured shapes and the small demo models",
                       description="Draws a gallery of coloured shapes (once) and opens the app on it with the "
                       "small demo models shipped in the package. They know eight colours and four shapes, nothing "
                       "else: real use downloads the real models. The demo keeps its own library in "
                       "DATA_DIR/demo.")
    p.add_argument("--dir", metavar="DIR", help="gallery folder (default DATA_DIR/demo/gallery); new or a demo gallery")
    p.add_argument("--count", type=_positive, default=200, help="pictures to draw in a new gallery (200)")
    _common(p)

    p = sub.add_parser("models", help="recommended CLIP-family models: size, speed here, published quality")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    _common(p)

    p = sub.add_parser("dupes", help="groups of near-identical images and exact copies (never deletes anything)")
    p.add_argument("--in", dest="folder", metavar="FOLDER", help="only images under this folder")
    p.add_argument("--threshold", type=float, default=0.95,
                   help="CLIP cosine at or above which two images count as near-identical (default 0.95)")
    p.add_argument("--json", action="store_true", help="print a JSON array of groups")
    _common(p)

    p = sub.add_parser("status", help="data dir, models, device, folders and counts")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("service", help="the warm service that answers search, similar, caption and eval",
                       description="The first command that needs a model starts a per-user service that keeps the "
                       "models loaded; it exits after service_idle seconds (default 600) without a request.")
    p.add_argument("action", choices=("status", "stop", "run"), help="status: every clipgit service of yours (all "
                   "data dirs); stop: the one of this data dir; run: serve in the foreground (what a start does "
                   "in the background)")
    p.add_argument("--all", action="store_true", help="stop: every clipgit service of yours, all data dirs")
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


def typo(word: str) -> str | None:
    """The usage error for a first word that is neither a subcommand nor a path (`serch red`), else None.

    A word that looks like a path (a slash, a leading dot or tilde) or names something that exists is a
    folder for the app, as before: only bare words that are nothing are refused, naming the nearest command.
    """
    import difflib

    if word.startswith(("-", ".", "~")) or "/" in word or os.path.exists(word) or word in SUBCOMMANDS:
        return None
    near = difflib.get_close_matches(word, SUBCOMMANDS, n=1, cutoff=0.5)
    hint = f" (did you mean '{near[0]}'?)" if near else ""
    return (f"clipgit-tui: error: '{word}' is neither a command nor a folder{hint}; commands: "
            f"{', '.join(SUBCOMMANDS)} (clipgit-tui --help)")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and (error := typo(args_list[0])) is not None:
        print(error, file=sys.stderr)
        return 2
    if not args_list or (args_list[0] not in SUBCOMMANDS and args_list[0] not in ("-h", "--help", "--version")):
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
        from clipgit.core.errors import ClipgitError, ConfigError, QueryError

        if os.environ.get("CLIPGIT_DEBUG"):
            raise
        code = 2 if isinstance(exc, (ConfigError, QueryError)) else 1
        text = str(exc) if isinstance(exc, ClipgitError) else f"unexpected {type(exc).__name__}: {exc}"
        print(f"clipgit-tui: error: {_one_line(text)}", file=sys.stderr)
        return code


def _one_line(text: str) -> str:
    from clipgit.core.names import display_name

    return display_name(" ".join(text.split()))


def _settings(args: argparse.Namespace) -> Settings:
    from clipgit.core.config import Settings

    return Settings.load(data_dir=args.data_dir, clip_model=args.clip_model, caption_model=args.caption_model,
                         device=args.device, precision=args.precision, batch_size=args.batch_size,
                         captions=getattr(args, "captions", None), ocr=getattr(args, "ocr", None),
                         service=False if args.no_service else None)


def _needs_terminal() -> int:
    """The app reads keys from stdin and draws on stderr (Textual's way): without a terminal there it ran
    blind and never ended, filling a pipe or a file with screens."""
    if sys.stdin.isatty() and sys.__stderr__ is not None and sys.__stderr__.isatty():
        return 0
    print("clipgit-tui: error: the app needs a terminal (for scripts: clipgit-tui index, search, similar, "
          "status ... --json; see clipgit-tui --help)", file=sys.stderr)
    return 2


def _dispatch(args: argparse.Namespace) -> int:
    if args.command in ("app", "demo") and _needs_terminal():
        return 2
    settings = _settings(args)
    if args.command != "models":
        from clipgit.core.config import private_data_dir

        note = private_data_dir(settings.data_dir)
        if note:
            print(f"clipgit-tui: note: {note}", file=sys.stderr)
    if args.command == "app":
        from clipgit.tui.run_app import run_app

        return run_app(settings, args.paths)
    if args.command == "train":
        from clipgit.tui.cli.models import train

        return train(settings, args)
    if args.command == "demo":
        from clipgit.tui.demo import demo

        return demo(settings, args)
    if args.command == "service":
        from clipgit.tui.cli.service import service

        return service(settings, args)
    from clipgit.tui.cli.library import dupes, forget, models, status
    from clipgit.tui.cli.models import caption, evaluate, ocr

    library: dict[str, Callable[[Engine, argparse.Namespace], int]] = {
        "status": status, "forget": forget, "dupes": dupes, "models": models}
    model: dict[str, Callable[[EngineAPI, argparse.Namespace], int]] = {
        "index": _index, "search": _search, "similar": _search, "caption": caption, "ocr": ocr, "eval": evaluate}
    if args.command in model:
        from clipgit.tui.cli.service import remote_engine

        remote = remote_engine(settings, args)
        if remote is not None:
            from clipgit.core.service.client import ServiceUnavailable

            try:
                return model[args.command](remote, args)
            except ServiceUnavailable:  # it went away under this request (killed, idle exit): once more
                remote.client.ensure()
                return model[args.command](remote, args)
    from clipgit.core.engine import Engine

    with Engine(settings) as engine:
        return (library.get(args.command) or model[args.command])(engine, args)


def _index(engine: EngineAPI, args: argparse.Namespace) -> int:
    code = _index_once(engine, args, args.paths)
    if code != 0 or not args.watch:
        return code
    from clipgit.core.ingest.watch import watch_folders

    roots = [os.path.abspath(os.path.expanduser(p)) for p in args.paths]
    print(f"watching {len(roots)} folder(s) for new, changed, moved and deleted images (Ctrl-C stops)",
          file=sys.stderr, flush=True)
    try:
        for changed in watch_folders(roots, threading.Event()):
            code = _index_once(engine, args, changed)
            if code != 0:
                return code
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    print("clipgit-tui: stopped watching", file=sys.stderr)
    return 0


def _index_once(engine: EngineAPI, args: argparse.Namespace, paths: list[str]) -> int:
    from clipgit.core.names import display_name
    from clipgit.tui.progress_bar import ProgressBar

    bar = ProgressBar(enabled=not args.quiet and sys.stderr.isatty())
    cancel = threading.Event()
    last = None
    try:
        for event in engine.index_iter(paths, cancel):
            last = event
            bar.update(event)
    except KeyboardInterrupt:
        cancel.set()
        bar.close()
        print("clipgit-tui: interrupted; what was indexed is saved, run again to resume", file=sys.stderr)
        return 130
    bar.close()
    if last is None or not last.finished or last.report is None or last.report.cancelled:
        from clipgit.core.errors import JobInterrupted

        raise JobInterrupted("the index run stopped before it finished (its service was stopped or killed?): "
                             "what it finished is kept; run the command again to finish")
    report = last.report
    summary = report.as_dict()
    if engine.settings.captions and not cancel.is_set():
        try:
            from clipgit.tui.cli.models import caption_library

            summary["captioned"] = caption_library(engine, args, bar, cancel)
        except KeyboardInterrupt:
            cancel.set()
            bar.close()
            print("clipgit-tui: interrupted; captions so far are saved", file=sys.stderr)
            return 130
        except Exception as exc:  # embeddings are saved; say why captions are missing, then fail
            from clipgit.core.errors import ModelUnavailable

            if not isinstance(exc, ModelUnavailable):
                raise
            print(f"clipgit-tui: error: images indexed, but no captions: {_one_line(str(exc))}", file=sys.stderr)
            if args.json:
                print(json.dumps(summary))
            return 1
    if engine.settings.ocr and not cancel.is_set():
        try:
            from clipgit.tui.cli.models import ocr_library

            summary["read"] = ocr_library(engine, args, bar, cancel)
        except KeyboardInterrupt:
            cancel.set()
            bar.close()
            print("clipgit-tui: interrupted; text read so far is saved", file=sys.stderr)
            return 130
        except Exception as exc:  # embeddings are saved; say why text is missing, then fail
            from clipgit.core.errors import ModelUnavailable

            if not isinstance(exc, ModelUnavailable):
                raise
            print(f"clipgit-tui: error: images indexed, but no text read: {_one_line(str(exc))}", file=sys.stderr)
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
    if "read" in summary:
        print(f"read the text of {summary['read']}")
    return 0


def _search(engine: EngineAPI, args: argparse.Namespace) -> int:
    from clipgit.core.names import display_name

    if args.command == "search":
        query = " ".join([*args.query, *(f'{flag}:"{getattr(args, flag)}"' for flag in FILTER_FLAGS
                                         if getattr(args, flag))])
        if not query.strip():
            from clipgit.core.errors import QueryError

            raise QueryError("search needs words, an image or a filter (clipgit-tui search --help)")
        results = engine.search(query, top=args.top, folder=args.folder, mode=args.mode, sort=args.sort,
                                exact=args.exact)
        from clipgit.core.search.filters import notes

        index_note = getattr(engine, "vector_index_note", lambda: "")()  # in-process only: building, stale
        for note in [*notes(query), *([index_note] if index_note else [])]:  # on stderr: the JSON stays as it is
            print(f"clipgit-tui: note: {note}", file=sys.stderr)
    else:
        query = ""  # an image, no filters but --in
        results = engine.similar(args.query, top=args.top, folder=args.folder)
    if args.json:
        print(json.dumps([r.as_dict() for r in results]))
    else:
        if not results:
            print(f"no results: {_why_none(query, args)}", file=sys.stderr)
        elif results[0].model and results[0].model != engine.settings.clip_model:  # a model switch under way
            print(f"answered by {display_name(results[0].model)}'s vectors until "
                  f"{display_name(engine.settings.clip_model)} has embedded the library", file=sys.stderr)
        for r in results:
            caption = f"  ({display_name(r.caption)})" if r.caption else ""
            if r.mode == "browse" or getattr(args, "sort", "score") == "date":
                # the photo's own clock, as format.clock, without importing rich on the hot path of every search
                at = r.taken_clock()
                taken = at.strftime("%Y-%m-%d %H:%M") if at else "-" * 16
                print(f"{taken}  {display_name(r.path)}{caption}")
            else:  # the CLIP cosine where there is one (hybrid orders by fused rank, ~0.03, unreadable)
                shown = r.clip_score if r.clip_score is not None else r.score
                print(f"{shown:.4f}  {display_name(r.path)}{caption}")
    return 0


def _why_none(query: str, args: argparse.Namespace) -> str:
    """Why a search found nothing: filters that match no image are not an empty library. `query` is what was
    searched, the filter flags written into it; --in narrows it too."""
    from clipgit.core.search.filters import split_filters

    if split_filters(query)[1].within(args.folder).active:
        return "no indexed image matches these filters"
    if getattr(args, "mode", None) == "caption":
        return "no caption has these words"
    return "the library is empty for this model (run 'clipgit-tui index FOLDER')"


def _version() -> str:
    """The installed distribution's version (what a bug report needs)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("clipgit")
    except PackageNotFoundError:
        return "unknown (not installed)"
