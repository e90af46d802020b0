"""Talking to the warm service: find it, start it once (a lock), replace a stale or outdated one.

`RemoteEngine` answers search, similar, caption and eval with the same
result types and the same typed errors as `Engine`, so the command line's
handlers are the same for both.
"""

from __future__ import annotations

import dataclasses
import fcntl
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from clipgit.core.config import Settings
from clipgit.core.errors import ClipgitError, JobInterrupted
from clipgit.core.service.protocol import (
    PROTOCOL_VERSION,
    SOCKET_PATH_MAX,
    code_time,
    how,
    identity,
    progress_from_json,
    raise_error,
    settings_to_json,
    socket_path,
    unix_sockets_supported,
)

if TYPE_CHECKING:
    from clipgit.core.ingest.caption_jobs import CaptionProgress
    from clipgit.core.ingest.indexer import IndexProgress
    from clipgit.core.lab.evaluate import EvalProgress
    from clipgit.core.search.searcher import SearchResult

START_TIMEOUT_S = 30.0


class ServiceUnavailable(ClipgitError):
    """No service could be reached or started; the caller runs in-process."""


class ServiceGone(ServiceUnavailable):
    """Nobody listens on the socket (none was started, or one was killed and left its socket file)."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class ServiceClient:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = socket_path(settings)

    @staticmethod
    def usable(settings: Settings) -> bool:
        return settings.service and unix_sockets_supported() and len(str(socket_path(settings))) <= SOCKET_PATH_MAX

    # the wire ---------------------------------------------------------------------------
    def call(self, method: str, route: str, body: dict[str, Any] | None = None,
             timeout: float | None = None) -> dict[str, Any]:
        """One request; raises the engine's typed error, or ServiceUnavailable when nobody answers."""
        conn = _UnixConnection(str(self.path), timeout or 24 * 3600.0)
        try:
            response = _send(conn, method, route, body)
            try:
                raw = response.read()
            except (OSError, http.client.HTTPException) as exc:  # busy past the timeout, or broken
                raise ServiceUnavailable(f"the clipgit service did not answer: {exc}") from None
        finally:
            conn.close()
        answer = _json_object(raw)
        raise_error(answer)
        return answer

    def stream(self, route: str, body: dict[str, Any],
               cancel: threading.Event | None = None) -> Iterator[dict[str, Any]]:
        """A streamed answer, line by line. Closing the connection (cancel set, or the iterator closed) cancels
        the job in the service, which commits what it has done and ends. A stream that stops before its end
        line (the service killed) raises JobInterrupted: a job cut short is never taken for a finished one."""
        conn = _UnixConnection(str(self.path), 24 * 3600.0)
        try:
            response = _send(conn, "POST", route, body)
            if response.status != 200:
                raise_error(_json_object(response.read()))
                raise ServiceUnavailable(f"the clipgit service answered {response.status}")
            while cancel is None or not cancel.is_set():
                try:
                    raw = response.readline()
                except (OSError, http.client.HTTPException):
                    raw = b""
                if not raw or not raw.endswith(b"\n"):
                    raise JobInterrupted("the clipgit service stopped in the middle of the job (killed, or out of "
                                         "memory?): what it finished is kept; run the command again to finish")
                line = _json_object(raw)
                raise_error(line)
                if line.get("end") is True:
                    return
                yield line
        finally:
            conn.close()

    def hello(self) -> dict[str, Any] | None:
        """The service's handshake, or None when none is listening (no socket, or a stale one).

        A service that is there but does not answer in time raises ServiceUnavailable: its socket is
        not stale, and must not be taken from it.
        """
        if not self.path.exists():
            return None
        try:
            return self.call("GET", "/v1/hello", timeout=10.0)
        except ServiceGone:
            return None

    def running(self) -> bool:
        return self._ours(self.hello())

    def _ours(self, hello: dict[str, Any] | None) -> bool:
        """A service of this protocol version with these answer-changing settings, running code no older than
        ours (settings that change only how work is done are sent with each job)."""
        return hello is not None and hello.get("version") == PROTOCOL_VERSION and \
            hello.get("identity") == _plain(identity(self.settings)) and \
            int(hello.get("code_time") or 0) >= code_time()

    # starting and stopping -------------------------------------------------------------------
    def ensure(self) -> str:
        """Make sure a service of our version answers; returns a one-line note when it had to replace one."""
        note = ""
        if self.running():
            return note
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two clients starting at once start one service
            hello = self.hello()
            if self._ours(hello):
                return note
            if hello is not None:  # another version answers: ask it to go, then take its place
                note = _why_replaced(hello, self.settings)
                self._stop_and_wait()
            if self.path.exists():  # nobody listens: a service killed with -9 left its socket
                self.path.unlink()
            self._wait_ready(self._spawn())
        return note

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ, CLIPGIT_SERVICE_SETTINGS=settings_to_json(self.settings))
        log = open(self.path.with_suffix(".log"), "ab")  # noqa: SIM115  (handed to the child)
        try:
            return subprocess.Popen([sys.executable, "-m", "clipgit.tui.cli", "service", "run"],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                    start_new_session=True, close_fds=True)
        finally:
            log.close()

    def _wait_ready(self, child: subprocess.Popen[bytes]) -> None:
        """Until the service answers; at once when it exited instead (a damaged library, a bad setting):
        waiting out the timeout had cost every such command 30 s before it ran in-process."""
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            if self.running():
                return
            if child.poll() is not None:  # gone without answering: its reason is in its log; run in-process
                log = self.path.with_suffix(".log")
                raise ServiceUnavailable(f"the clipgit service exited as it started (see {log})")
            time.sleep(0.02)
        raise ServiceUnavailable(f"the clipgit service did not start in {START_TIMEOUT_S:.0f} s "
                                 f"(see {self.path.with_suffix('.log')})")

    def status(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        try:
            return self.call("GET", "/v1/status", timeout=10.0)
        except ServiceUnavailable:
            return None

    def stop(self) -> bool:
        """Ask the service to exit; True when one was running."""
        try:
            if self.hello() is None:
                return False
        except ServiceUnavailable:
            pass  # busy: ask it to stop all the same
        self._stop_and_wait()
        return True

    def _stop_and_wait(self, timeout: float = 15.0) -> None:
        try:
            self.call("POST", "/v1/stop", {}, timeout=5.0)
        except ServiceGone:
            return
        except ServiceUnavailable:
            pass  # it may have stopped as it answered: wait and see
        end = time.monotonic() + timeout
        while self.path.exists() and time.monotonic() < end:
            time.sleep(0.02)
        if self.path.exists() and self.hello() is not None:
            raise ServiceUnavailable("the running clipgit service does not stop")


class RemoteEngine:
    """The engine calls the command line makes, answered by the service."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client
        self.settings = client.settings
        self._index_note = ""  # the service's vector-index note, as it sent it with its last search answer

    def search(self, query: str, top: int = 10, folder: str | None = None, mode: str = "auto",
               sort: str = "score", exact: bool = False) -> list[SearchResult]:
        body = {"query": query, "top": top, "folder": _abs(folder), "mode": mode, "sort": sort, "cwd": os.getcwd()}
        answer = self.client.call("POST", "/v1/search", {**body, "exact": True} if exact else body)
        self._index_note = str(answer.get("index_note") or "")  # a service from before the note: none
        return _results(answer)

    def vector_index_note(self) -> str:
        """The note the service sent with its last search answer (why it answered exactly though the
        approximate index is wanted), so the command line says through the service what it says in-process."""
        return self._index_note

    def similar(self, path: str, top: int = 10, folder: str | None = None) -> list[SearchResult]:
        answer = self.client.call("POST", "/v1/similar", {"path": _abs(path), "top": top, "folder": _abs(folder)})
        return _results(answer)

    def caption(self, paths: Sequence[str], *, max_tokens: int | None = None, beams: int | None = None) -> list[Any]:
        from clipgit.core.ingest.caption_jobs import Captioned

        answer = self.client.call("POST", "/v1/caption", {"paths": [_abs(p) for p in paths],
                                                          "max_tokens": max_tokens, "beams": beams})
        return [Captioned(**c) for c in answer["captions"]]

    def evaluate_iter(self, folder: str, *, captions: bool = True,
                      cancel: threading.Event | None = None) -> Iterator[EvalProgress]:
        from clipgit.core.lab.evaluate import EvalReport

        body = {"dataset": _abs(folder), "captions": captions}
        for line in self.client.stream("/v1/eval", body, cancel):
            yield progress_from_json(line, EvalReport)

    def load_model(self) -> str:
        """Load CLIP in the service (starting it if needed); returns its device and precision."""
        answer = self.client.call("POST", "/v1/load", {})
        return f"{answer['device']} {answer['precision']}"

    def index_iter(self, paths: Sequence[str], cancel: threading.Event | None = None) -> Iterator[IndexProgress]:
        from clipgit.core.ingest.indexer import IndexReport

        body = {"paths": [_abs(p) for p in paths], "how": how(self.settings)}
        for line in self.client.stream("/v1/index", body, cancel):
            yield progress_from_json(line, IndexReport)

    def caption_library_iter(self, cancel: threading.Event | None = None, pause: threading.Event | None = None,
                             root: str | None = None) -> Iterator[CaptionProgress]:
        """Library captions in the service (`_paused_stream`)."""
        return self._paused_stream("/v1/caption-library", cancel, pause, root)

    def ocr(self, paths: Sequence[str]) -> list[Any]:
        from clipgit.core.ingest.ocr_jobs import TextRead

        answer = self.client.call("POST", "/v1/ocr", {"paths": [_abs(p) for p in paths]})
        return [TextRead(**t) for t in answer["texts"]]

    def ocr_library_iter(self, cancel: threading.Event | None = None, pause: threading.Event | None = None,
                         root: str | None = None) -> Iterator[Any]:
        """Library text in the service, paused and resumed as library captions are (`_paused_stream`)."""
        return self._paused_stream("/v1/ocr-library", cancel, pause, root)

    def _paused_stream(self, route: str, cancel: threading.Event | None, pause: threading.Event | None,
                       root: str | None) -> Iterator[Any]:
        """A library job's progress. A pause closes the stream (the service commits and stops) and a resume opens
        a new one: what was done is cached, so it goes on where it was."""
        cancel = cancel or threading.Event()
        offset = 0  # done before a pause: a resumed stream counts only what is left
        while not cancel.is_set():
            halt = threading.Event()
            if pause is not None:
                threading.Thread(target=_watch, args=(pause, cancel, halt), daemon=True).start()
            last = None
            try:
                body = {"root": _abs(root), "how": how(self.settings)}
                for line in self.client.stream(route, body, halt):
                    last = progress_from_json(line, None)
                    last = dataclasses.replace(last, done=last.done + offset, total=last.total + offset)
                    yield last
            finally:
                paused = halt.is_set()
                halt.set()
            if not paused or pause is None or cancel.is_set():
                return
            if last is not None:
                offset = last.done
                yield dataclasses.replace(last, paused=True, rate=0.0, eta=None)
            while pause.is_set() and not cancel.is_set():
                cancel.wait(0.2)

    def close(self) -> None:
        pass

    def __enter__(self) -> RemoteEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plain(value: dict[str, Any]) -> Any:
    """As it comes back through JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def _why_replaced(hello: dict[str, Any], settings: Settings) -> str:
    """The one-line note for a service this client replaces."""
    if hello.get("version") != PROTOCOL_VERSION:
        return (f"clipgit-tui: the running service speaks protocol {hello.get('version')}, this client "
                f"{PROTOCOL_VERSION}: restarting it")
    theirs, ours = hello.get("identity") or {}, _plain(identity(settings))
    changed = [f"{k} {theirs.get(k)} -> {ours[k]}" for k in ours if theirs.get(k) != ours[k]]
    if changed:
        return f"clipgit-tui: restarting the service with other settings ({'; '.join(changed)})"
    return "clipgit-tui: clipgit was updated since the running service started: restarting it"


def _watch(pause: threading.Event, cancel: threading.Event, halt: threading.Event) -> None:
    """Ends a stream (sets halt) when the user pauses or cancels."""
    while not halt.is_set():
        if pause.is_set() or cancel.is_set():
            halt.set()
            return
        halt.wait(0.2)


def _send(conn: http.client.HTTPConnection, method: str, route: str,
          body: dict[str, Any] | None) -> http.client.HTTPResponse:
    """The request sent and the answer's head read: ServiceGone when nobody listens, ServiceUnavailable when
    the service does not answer (busy past the timeout, or broken)."""
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, route, body=data, headers={"Content-Type": "application/json"})
        return conn.getresponse()
    except (ConnectionRefusedError, FileNotFoundError) as exc:
        raise ServiceGone(f"no clipgit service listens: {exc}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise ServiceUnavailable(f"the clipgit service did not answer: {exc}") from None


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(raw or b"{}")
    except ValueError as exc:
        raise ServiceUnavailable(f"the clipgit service sent something that is not JSON: {exc}") from None
    if not isinstance(answer, dict):
        raise ServiceUnavailable("the clipgit service sent something that is not a JSON object")
    return answer


def _abs(path: str | None) -> str | None:
    """Paths are the client's: the service's working directory is not the caller's."""
    return None if path is None else os.path.abspath(os.path.expanduser(path))


def _results(answer: dict[str, Any]) -> list[SearchResult]:
    from clipgit.core.search.searcher import SearchResult

    return [SearchResult(**r) for r in answer["results"]]

