"""The `clipgit-tui` command line's grammar: its subcommands, their flags and help, and the usage error for a
first word that is neither a subcommand nor a folder. argparse only: `--help` answers at once."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TypeAlias

FILTER_FLAGS = ("after", "before", "year", "camera", "ext", "text", "place", "country")
SUBCOMMANDS = ("index", "search", "similar", "dupes", "models", "caption", "ocr", "eval", "train", "status", "forget",
               "app", "demo", "service")


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


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """`only`: the one subcommand whose line is parsed (all fourteen, built for every start, were ~9 ms of the
    app's first paint); None: all of them, for `--help`."""
    parser = argparse.ArgumentParser(
        prog="clipgit-tui",
        description="Search your own image folders by meaning. With no subcommand, opens the terminal app "
        "(optionally indexing the PATHs given).",
        epilog="Run 'clipgit-tui SUBCOMMAND --help' for each subcommand's options.",
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")
    for name, add in _SUBPARSERS.items():  # in the order --help lists them
        if only is None or only == name:
            add(sub, name)
    return parser


Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _app(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(name, help="open the terminal app (the default)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="folders to add and index in the background")
    p.add_argument("--captions", action="store_true", default=None,
                   help="caption the whole library in the background (config: captions = true)")
    p.add_argument("--ocr", action="store_true", default=None,
                   help="read the text in every image in the background (config: ocr = true)")
    _common(p)


def _index(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(name, help="add folders to the library and index new/changed images")
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


def _query(sub: Subparsers, name: str) -> None:
    """`search` and `similar`."""
    helptext, what = {
        "search": ("search by text, image files, or both: \"beach + 2:sunset - people\"", "QUERY"),
        "similar": ("images like the given one (it is left out of its own results)", "IMAGE"),
    }[name]
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


def _caption(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(name, help="caption image files with GIT (library images come from the cache)")
    p.add_argument("paths", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="print a JSON array of {path, caption}")
    p.add_argument("--max-tokens", type=_positive, help="longest caption in tokens (default 30)")
    p.add_argument("--beams", type=_positive, help="beam search width (default 1: greedy)")
    _common(p)


def _ocr(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(name, help="print the text in image files (library images come from the cache)")
    p.add_argument("paths", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="print a JSON array of {path, text, lines}")
    _common(p)


def _eval(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(name, help="how well the current models retrieve and caption a captioned dataset")
    p.add_argument("dataset", metavar="DATASET",
                   help="a folder with captions.jsonl, captions.csv, or name.txt beside each image")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-captions", action="store_true", help="skip captioning (BLEU-4, CIDEr-D)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _common(p)


def _train(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(name, help="fine-tune CLIP (and with --captioner GIT) on a captioned dataset")
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


def _demo(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(name, help="try the app offline: a gallery of coloured shapes and the small demo models",
                       description="Draws a gallery of coloured shapes (once) and opens the app on it with the "
                       "small demo models shipped in the package. They know eight colours and four shapes, nothing "
                       "else: real use downloads the real models. The demo keeps its own library in "
                       "DATA_DIR/demo.")
    p.add_argument("--dir", metavar="DIR", help="gallery folder (default DATA_DIR/demo/gallery); new or a demo gallery")
    p.add_argument("--count", type=_positive, default=200, help="pictures to draw in a new gallery (200)")
    _common(p)


def _models(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(name, help="recommended CLIP-family models: size, speed here, published quality")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    _common(p)


def _dupes(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(name, help="groups of near-identical images and exact copies (never deletes anything)")
    p.add_argument("--in", dest="folder", metavar="FOLDER", help="only images under this folder")
    p.add_argument("--threshold", type=float, default=0.95,
                   help="CLIP cosine at or above which two images count as near-identical (default 0.95)")
    p.add_argument("--json", action="store_true", help="print a JSON array of groups")
    _common(p)


def _status(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(name, help="data dir, models, device, folders and counts")
    p.add_argument("--json", action="store_true")
    _common(p)


def _service(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(name, help="the warm service that answers search, similar, caption and eval",
                       description="The first command that needs a model starts a per-user service that keeps the "
                       "models loaded; it exits after service_idle seconds (default 600) without a request.")
    p.add_argument("action", choices=("status", "stop", "run"), help="status: every clipgit service of yours (all "
                   "data dirs); stop: the one of this data dir; run: serve in the foreground (what a start does "
                   "in the background)")
    p.add_argument("--all", action="store_true", help="stop: every clipgit service of yours, all data dirs")
    p.add_argument("--json", action="store_true")
    _common(p)


def _forget(sub: Subparsers, name: str) -> None:
    p = sub.add_parser(name, help="drop a folder (or a sub-folder) from the library")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true")
    _common(p)


_SUBPARSERS: dict[str, Callable[[Subparsers, str], None]] = {
    "app": _app,
    "index": _index,
    "search": _query,
    "similar": _query,
    "caption": _caption,
    "ocr": _ocr,
    "eval": _eval,
    "train": _train,
    "demo": _demo,
    "models": _models,
    "dupes": _dupes,
    "status": _status,
    "service": _service,
    "forget": _forget,
}


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
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


class _VersionAction(argparse.Action):
    """`--version`, reading the installed version only when asked: importlib.metadata costs ~45 ms at start."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str = "show the version and exit") -> None:
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        print(f"clipgit-tui {_version()}")
        parser.exit()


def _version() -> str:
    """The installed distribution's version (what a bug report needs)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("clipgit")
    except PackageNotFoundError:
        return "unknown (not installed)"
