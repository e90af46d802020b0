"""Talking to the warm service: find it, start it once (a lock), replace a stale or outdated one.

`RemoteEngine` answers search, similar, caption and eval with the same
result types and the same typed errors as `Engine`, so the command line's
handlers are the same for both.
"""

from __future__ import annotations

import fcntl
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

from ..config import Settings
from ..errors import ClipgitError
from .protocol import (
    PROTOCOL_VERSION,
    SOCKET_PATH_MAX,
    raise_error,
    settings_key,
    settings_to_json,
    socket_path,
    unix_sockets_supported,
)

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
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, route, body=data, headers={"Content-Type": "application/json"})
            answer = json.loads(conn.getresponse().read() or b"{}")
        except (ConnectionRefusedError, FileNotFoundError) as exc:
            raise ServiceGone(f"no clipgit service listens: {exc}") from None
        except (OSError, http.client.HTTPException, ValueError) as exc:  # busy past the timeout, or broken
            raise ServiceUnavailable(f"the clipgit service did not answer: {exc}") from None
        finally:
            conn.close()
        if not isinstance(answer, dict):
            raise ServiceUnavailable("the clipgit service sent something that is not a JSON object")
        raise_error(answer)
        return answer

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
        """A service of this protocol version with these settings."""
        return hello is not None and hello.get("version") == PROTOCOL_VERSION and \
            hello.get("key") == settings_key(self.settings)

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
                note = (f"clipgit-tui: the running service speaks protocol {hello.get('version')}, this client "
                        f"{PROTOCOL_VERSION}: restarting it")
                self._stop_and_wait()
            if self.path.exists():  # nobody listens: a service killed with -9 left its socket
                self.path.unlink()
            self._spawn()
            self._wait_ready()
        return note

    def _spawn(self) -> None:
        env = dict(os.environ, CLIPGIT_SERVICE_SETTINGS=settings_to_json(self.settings))
        log = open(self.path.with_suffix(".log"), "ab")  # noqa: SIM115  (handed to the child)
        try:
            subprocess.Popen([sys.executable, "-m", "clipgit.tui.cli", "service", "run"], stdin=subprocess.DEVNULL,
                             stdout=log, stderr=log, env=env, start_new_session=True, close_fds=True)
        finally:
            log.close()

    def _wait_ready(self) -> None:
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            if self.running():
                return
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

    def search(self, query: str, top: int = 10, folder: str | None = None, mode: str = "auto") -> list[Any]:
        answer = self.client.call("POST", "/v1/search", {"query": query, "top": top, "folder": _abs(folder),
                                                         "mode": mode, "cwd": os.getcwd()})
        return _results(answer)

    def similar(self, path: str, top: int = 10, folder: str | None = None) -> list[Any]:
        answer = self.client.call("POST", "/v1/similar", {"path": _abs(path), "top": top, "folder": _abs(folder)})
        return _results(answer)

    def caption(self, paths: Sequence[str], *, max_tokens: int | None = None, beams: int | None = None) -> list[Any]:
        from ..caption_jobs import Captioned

        answer = self.client.call("POST", "/v1/caption", {"paths": [_abs(p) for p in paths],
                                                          "max_tokens": max_tokens, "beams": beams})
        return [Captioned(**c) for c in answer["captions"]]

    def evaluate_iter(self, folder: str, *, captions: bool = True) -> Iterator[Any]:
        from ..lab.evaluate import EvalReport
        from ..progress import Progress

        answer = self.client.call("POST", "/v1/eval", {"dataset": _abs(folder), "captions": captions})
        fields = answer["report"]
        fields["problems"] = [tuple(p) for p in fields["problems"]]
        yield Progress("done", 1, 1, report=EvalReport(**fields))

    def close(self) -> None:
        pass

    def __enter__(self) -> RemoteEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _abs(path: str | None) -> str | None:
    """Paths are the client's: the service's working directory is not the caller's."""
    return None if path is None else os.path.abspath(os.path.expanduser(path))


def _results(answer: dict[str, Any]) -> list[Any]:
    from ..search import SearchResult

    return [SearchResult(**r) for r in answer["results"]]

