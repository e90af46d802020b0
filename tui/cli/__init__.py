"""`clipgit-tui`: no subcommand opens the app; subcommands serve scripts.

argparse only, and nothing heavy imported at module level, so `--help`
answers at once; torch loads when a subcommand needs a model. Exit codes:
0 success, 2 bad usage, 1 failure with one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from clipgit.tui.cli.parser import FILTER_FLAGS, SUBCOMMANDS, build_parser, typo

if TYPE_CHECKING:
    from clipgit.core.api import EngineAPI
    from clipgit.core.config import Settings
    from clipgit.core.engine import Engine



def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and (error := typo(args_list[0])) is not None:
        print(error, file=sys.stderr)
        return 2
    if not args_list or (args_list[0] not in SUBCOMMANDS and args_list[0] not in ("-h", "--help", "--version")):
        args_list = ["app", *args_list]
    parser = build_parser(args_list[0] if args_list[0] in SUBCOMMANDS else None)
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
    if sys.stdin.isatty() and sys.stdout.isatty():
        print("clipgit-tui: error: the app draws through stderr: run it without redirecting stderr (2>...)",
              file=sys.stderr)
        return 2
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
    import json  # here and in _search, not at the top: the app, which prints none, starts without it (~2 ms)

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
    from clipgit.tui.cli.models import caption_library, ocr_library

    # what follows embedding when it is asked for: (asked, its summary key, the job, its words)
    jobs = ((engine.settings.captions, "captioned", caption_library, ("captions so far are", "no captions")),
            (engine.settings.ocr, "read", ocr_library, ("text read so far is", "no text read")))
    for asked, key, job, (kept, missing) in jobs:
        if not asked or cancel.is_set():
            continue
        try:
            summary[key] = job(engine, args, bar, cancel)
        except KeyboardInterrupt:
            cancel.set()
            bar.close()
            print(f"clipgit-tui: interrupted; {kept} saved", file=sys.stderr)
            return 130
        except Exception as exc:  # embeddings are saved; say why this part is missing, then fail
            from clipgit.core.errors import ModelUnavailable

            if not isinstance(exc, ModelUnavailable):
                raise
            print(f"clipgit-tui: error: images indexed, but {missing}: {_one_line(str(exc))}", file=sys.stderr)
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
    import json

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

        index_note = engine.vector_index_note()  # building, stale: in-process, or as the service sent it
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
                found = "  [its text matched]" if r.text_score is not None else ""
                print(f"{shown:.4f}  {display_name(r.path)}{caption}{found}")
    return 0


def _why_none(query: str, args: argparse.Namespace) -> str:
    """Why a search found nothing: filters that match no image are not an empty library. `query` is what was
    searched, the filter flags written into it; --in narrows it too."""
    from clipgit.core.search.filters import split_filters

    if split_filters(query)[1].within(args.folder).active:
        return "no indexed image matches these filters"
    if getattr(args, "mode", None) == "caption":
        return "no caption has these words (the text in pictures: text:WORDS, or --mode hybrid)"
    return "the library is empty for this model (run 'clipgit-tui index FOLDER')"
