"""The service's wire format: JSON over HTTP on a Unix socket in the data dir (documented in docs/service.md).

Why HTTP over a Unix socket: it is the REST API the origin document plans,
ready for a TCP port later, while a socket file with mode 0600 in the user's
data dir (and the peer's uid checked) keeps everyone else out. The socket's
socket is the data dir's one service: settings that change answers (models,
device, precision, caption decoding) are its identity, checked at each
handshake, and a client with other ones replaces it rather than starting a
second; settings that only change how work is done (batch size, decoding,
captions on) travel with each request. Every streamed answer ends with an
`{"end": true}` line, so a stream cut short (the service killed) is never
taken for a finished job.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from clipgit.core.config import Settings
from clipgit.core.errors import (
    Cancelled,
    ClipgitError,
    ConfigError,
    ImageUnreadable,
    JobInterrupted,
    ModelUnavailable,
    NotInLibrary,
    QueryError,
)

PROTOCOL_VERSION = 4  # 2: streamed index, library captions and eval; load. 3: one service a data dir, streams end.
# 4: text read in pictures (/v1/ocr, /v1/ocr-library); results carry text and place
IDENTITY = ("clip_model", "caption_model", "device", "precision", "max_tokens", "beams")  # change answers
HOW = ("batch_size", "caption_batch_size", "decode_workers", "decode", "gpu_decode", "max_image_pixels",
       "include_hidden", "exclude_dirs")  # change only how a job is done: sent with each job
MAX_REQUEST_BYTES = 1 << 20  # a query or a list of paths; more is refused
SOCKET_PATH_MAX = 100  # AF_UNIX paths are limited to about 107 bytes; longer data dirs run in-process
ERRORS: dict[str, type[ClipgitError]] = {cls.__name__: cls for cls in (
    ClipgitError, ConfigError, QueryError, ModelUnavailable, NotInLibrary, ImageUnreadable, Cancelled,
    JobInterrupted)}
END = {"end": True}  # the last line of every streamed answer


def identity(settings: Settings) -> dict[str, Any]:
    """What must match for a service's answers to be this client's answers (the data dir is the socket's)."""
    return {name: getattr(settings, name) for name in IDENTITY}


def how(settings: Settings) -> dict[str, Any]:
    """The settings a job is done with, sent with it."""
    return {name: list(v) if isinstance(v := getattr(settings, name), tuple) else v for name in HOW}


@functools.cache
def code_time() -> int:
    """When this process's clipgit code last changed: the newest mtime (ns) of the package's .py files.

    Why: a service outlives an upgrade. Serving a request with the code it started with, it would go on
    indexing the old way until it sat idle for ten minutes. A client whose code is newer replaces it; one
    whose code is older (an app opened before the upgrade) uses it, so two never replace each other in
    turn. Cached: it stands for the code this process loaded (under a millisecond for ~80 files).
    """
    newest = 0
    for package in ("clipgit.core", "clipgit.tui"):
        spec = importlib.util.find_spec(package)
        for folder in (spec.submodule_search_locations or []) if spec is not None else []:
            for dirpath, dirs, files in os.walk(folder):
                dirs[:] = [d for d in dirs if d != "__pycache__"]
                for name in files:
                    if name.endswith(".py"):
                        newest = max(newest, os.stat(os.path.join(dirpath, name)).st_mtime_ns)
    return newest


def socket_path(settings: Settings) -> Path:
    return settings.data_dir / "service.sock"


def settings_to_json(settings: Settings) -> str:
    fields = dataclasses.asdict(settings)
    fields["data_dir"] = str(settings.data_dir)
    return json.dumps(fields)


def settings_from_json(text: str) -> Settings:
    fields = json.loads(text)
    fields["exclude_dirs"] = tuple(fields.get("exclude_dirs", ()))
    return Settings(**fields)


def error_body(exc: BaseException) -> dict[str, Any]:
    """The same message (and, on the client, the same type and exit code) as in-process."""
    if isinstance(exc, ClipgitError):
        return {"error": {"type": type(exc).__name__ if type(exc).__name__ in ERRORS else "ClipgitError",
                          "message": str(exc)}}
    return {"error": {"type": "ClipgitError", "message": f"unexpected {type(exc).__name__}: {exc}"}}


def raise_error(body: dict[str, Any]) -> None:
    error = body.get("error")
    if isinstance(error, dict):
        raise ERRORS.get(str(error.get("type")), ClipgitError)(str(error.get("message", "service error")))


def progress_to_json(event: Any) -> dict[str, Any]:
    """One line of a streamed answer: a Progress event, its report as plain JSON."""
    return {"progress": dataclasses.asdict(event)}


def progress_from_json(line: dict[str, Any], report_type: type | None) -> Any:
    """The Progress event a streamed line carries, its report rebuilt as `report_type`."""
    from clipgit.core.progress import Progress

    raise_error(line)
    fields = dict(line["progress"])
    report = fields.pop("report", None)
    if report is not None and report_type is not None:
        for name in ("skipped", "problems"):  # lists of (path, reason) pairs
            if name in report:
                report[name] = [tuple(pair) for pair in report[name]]
        report = report_type(**report)
    return Progress(**fields, report=report)


def unix_sockets_supported() -> bool:
    import socket

    return hasattr(socket, "AF_UNIX") and os.name == "posix"
