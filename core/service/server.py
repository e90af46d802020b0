"""The warm engine: one process per user and data dir, answering the command line and the app over a Unix socket.

Why: importing torch and transformers and loading weights costs seconds; a
search costs milliseconds. The service keeps one Engine warm (its one
inference thread puts interactive requests ahead of batch work) and exits by
itself after `service_idle` seconds without a request, freeing its memory.
A request that fails returns the engine's typed error and never takes the
service down; a malformed or oversized one is refused.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from clipgit.core.config import Settings
from clipgit.core.engine import Engine
from clipgit.core.errors import ClipgitError, QueryError
from clipgit.core.service import registry
from clipgit.core.service.protocol import (
    END,
    HOW,
    MAX_REQUEST_BYTES,
    PROTOCOL_VERSION,
    code_time,
    error_body,
    identity,
    progress_to_json,
    socket_path,
)

# answered line by line, one Progress a line
STREAMS = ("/v1/index", "/v1/caption-library", "/v1/ocr-library", "/v1/eval")


class Service:
    """The engine and its bookkeeping; `handle` maps one request to one JSON answer."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or Engine(settings)
        self.started = time.time()
        code_time()  # the code it starts with, before any file changes under it
        self._last = time.monotonic()
        self._active = 0
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._cwd_lock = threading.Lock()

    # bookkeeping ------------------------------------------------------------------------
    def begin(self) -> None:
        with self._lock:
            self._active += 1

    def end(self) -> None:
        with self._lock:
            self._active -= 1
            self._last = time.monotonic()

    def idle_for(self) -> float:
        with self._lock:
            return 0.0 if self._active else time.monotonic() - self._last

    def hello(self) -> dict[str, Any]:
        return {"service": "clipgit", "version": PROTOCOL_VERSION, "pid": os.getpid(), "code_time": code_time(),
                "identity": identity(self.settings), "data_dir": str(self.settings.data_dir),
                "socket": str(socket_path(self.settings)), "started": self.started}

    def status(self) -> dict[str, Any]:
        models = [name for name, loaded in ((self.settings.clip_model, self.engine.clip.loaded),
                                            (self.settings.caption_model, self.engine.captioner.loaded)) if loaded]
        return {**self.hello(), "running": True, "uptime": round(time.time() - self.started, 1),
                "models_loaded": models,
                "memory_mb": _rss_mb(), "idle_seconds": round(self.idle_for(), 1),
                "idle_exit_in": round(max(0.0, self.settings.service_idle - self.idle_for()), 1),
                "device": self.engine.clip.device, "precision": self.engine.clip.precision}

    # requests ----------------------------------------------------------------------------------
    def handle(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            return 200, self._route(method, path, body)
        except Exception as exc:  # a bug answers as an error too; the service stays up
            return _failure(exc)

    def _route(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        e = self.engine
        if method == "GET" and path == "/v1/hello":
            return self.hello()
        if method == "GET" and path == "/v1/status":
            return self.status()
        if method == "POST" and path == "/v1/stop":
            self.stopping.set()
            return {"stopping": True}
        if method == "POST" and path == "/v1/search":
            with self._cwd_lock:  # image terms in a query are paths relative to the client's folder
                try:
                    os.chdir(str(body.get("cwd") or "/"))
                except OSError:
                    os.chdir("/")
                hits = e.search(str(body["query"]), top=int(body.get("top", 10)), folder=body.get("folder"),
                                mode=str(body.get("mode", "auto")), sort=str(body.get("sort", "score")),
                                exact=bool(body.get("exact", False)))
            # why search answered exactly though the approximate index is wanted, read as it answered
            return {"results": [dataclasses.asdict(h) for h in hits], "index_note": e.vector_index_note()}
        if method == "POST" and path == "/v1/similar":
            hits = e.similar(str(body["path"]), top=int(body.get("top", 10)), folder=body.get("folder"))
            return {"results": [dataclasses.asdict(h) for h in hits]}
        if method == "POST" and path == "/v1/caption":
            paths = [str(p) for p in body["paths"]]
            done = e.caption(paths, max_tokens=body.get("max_tokens"), beams=body.get("beams"))
            return {"captions": [dataclasses.asdict(c) for c in done]}
        if method == "POST" and path == "/v1/ocr":
            read = e.ocr([str(p) for p in body["paths"]])
            return {"texts": [dataclasses.asdict(t) for t in read]}
        if method == "POST" and path == "/v1/load":
            e.load_model()
            return {"device": e.clip.device, "precision": e.clip.precision}
        raise QueryError(f"no such request: {method} {path}")

    def stream(self, path: str, body: dict[str, Any], cancel: threading.Event) -> Iterator[dict[str, Any]]:
        """A long job's progress, one JSON object per event; a failure is the last event, as an error; then
        the end line, without which the client knows the job did not finish."""
        try:
            for event in self._events(path, body, cancel):
                yield progress_to_json(event)
        except Exception as exc:  # a bug ends this job with an error too; the service stays up
            yield _failure(exc)[1]
        yield END

    def _how(self, body: dict[str, Any]) -> Settings:
        """The service's settings with the job's own way of working (batch size, decoding, ...)."""
        asked = body.get("how") or {}
        if not isinstance(asked, dict) or set(asked) - set(HOW):
            raise QueryError(f"bad request: 'how' may only set {', '.join(HOW)}")
        return self.settings.with_(**asked)

    def _events(self, path: str, body: dict[str, Any], cancel: threading.Event) -> Iterator[Any]:
        e = self.engine
        if path == "/v1/index":
            return e.index_iter([str(p) for p in body["paths"]], cancel, settings=self._how(body))
        if path == "/v1/caption-library":
            root = body.get("root")
            return e.caption_library_iter(cancel, root=None if root is None else str(root),
                                          settings=self._how(body))
        if path == "/v1/ocr-library":
            root = body.get("root")
            return e.ocr_library_iter(cancel, root=None if root is None else str(root), settings=self._how(body))
        return e.evaluate_iter(str(body["dataset"]), captions=bool(body.get("captions", True)), cancel=cancel)


def _failure(exc: Exception) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON answer for a request that failed: the engine's typed error (200, as
    in-process), a request of the wrong shape (400), or a bug (500)."""
    if isinstance(exc, ClipgitError):
        return 200, error_body(exc)
    if isinstance(exc, (KeyError, TypeError, ValueError)):
        return 400, error_body(QueryError(f"bad request: {exc}"))
    return 500, error_body(exc)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: simple, and cheap on a local socket

    def do_GET(self) -> None:
        self._answer("GET", {})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            self._send(413, error_body(QueryError(f"request larger than {MAX_REQUEST_BYTES} bytes")))
            return
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
        except (ValueError, UnicodeDecodeError) as exc:
            self._send(400, error_body(QueryError(f"malformed request: {exc}")))
            return
        if self.path in STREAMS:
            self._stream(body)
        else:
            self._answer("POST", body)

    def _stream(self, body: dict[str, Any]) -> None:
        """Progress as it comes; a client that goes away cancels the job, which commits what it has and ends."""
        service = self.server.service
        service.begin()  # a long job keeps the service from its idle exit
        cancel = threading.Event()
        try:
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.end_headers()
            except OSError:
                return
            for line in service.stream(self.path, body, cancel):
                if cancel.is_set():
                    continue  # nobody reads any more: let the job wind down
                try:
                    self.wfile.write(json.dumps(line).encode() + b"\n")
                    self.wfile.flush()
                except OSError:
                    cancel.set()
        finally:
            service.end()

    def _answer(self, method: str, body: dict[str, Any]) -> None:
        service = self.server.service
        service.begin()
        try:
            status, answer = service.handle(method, self.path, body)
        finally:
            service.end()
        self._send(status, answer)

    def _send(self, status: int, answer: dict[str, Any]) -> None:
        data = json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client went away; nothing to tell it

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol-level refusals (a garbled request line, an unknown method) answer in JSON too."""
        self.close_connection = True
        self._send(code, error_body(QueryError(f"malformed request: {message or code}")))

    def address_string(self) -> str:
        return "local"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the service never prints


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, path: Path, service: Service) -> None:
        self.service = service
        super().__init__(str(path), _Handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return peer_is_us(request) if isinstance(request, socket.socket) else False


def peer_is_us(conn: socket.socket) -> bool:
    """On Linux, only processes of this user are answered (the socket's 0600 mode already says so elsewhere)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return True
    try:
        _, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    except OSError:
        return False
    return bool(uid == os.getuid())


def bind(settings: Settings, service: Service) -> _Server:
    """Bind the settings' socket, readable and writable by this user only (a stale file is the caller's to clear)."""
    path = socket_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = os.umask(0o177)
    try:
        server = _Server(path, service)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    return server


def serve(settings: Settings, *, warm: bool = True) -> None:
    """Run until stopped or idle; the socket goes away with the service."""
    service = Service(settings)
    server = bind(settings, service)
    path = socket_path(settings)
    listed = registry.register(service.hello())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    if warm:  # load CLIP now, so the first search after a start is already warm
        threading.Thread(target=_warm, args=(service.engine,), daemon=True).start()
    try:
        while not service.stopping.is_set() and service.idle_for() < settings.service_idle:
            service.stopping.wait(0.5)
    finally:
        registry.unregister(listed)
        server.shutdown()
        server.server_close()
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        service.engine.close()


def _warm(engine: Engine) -> None:
    try:
        engine.load_model()
    except ClipgitError:
        pass  # each request that needs the model says why it cannot load


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return round(int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        import resource

        scale = 1 if sys.platform == "darwin" else 1024
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20, 1)
