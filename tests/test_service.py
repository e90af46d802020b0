"""The warm service: started on demand, same answers as in-process, and safe against every fault we know."""

from __future__ import annotations

import json
import os
import signal
import socket
import socketserver
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from clipgit.core.config import Settings
from clipgit.core.service.client import ServiceClient
from clipgit.core.service.protocol import PROTOCOL_VERSION, code_time, identity, socket_path
from clipgit.core.service.server import peer_is_us
from tests.conftest import cli_env, cli_path, make_photos

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets here")


@pytest.fixture
def lib(settings: Settings, tmp_path: Path) -> Iterator[tuple[Settings, dict[str, str]]]:
    """A small indexed library; the service's settings as the command line sees them; services stopped after."""
    make_photos(tmp_path / "pics", 10)
    env = cli_env(settings)
    env["CLIPGIT_SERVICE"] = "1"
    subprocess.run([cli_path(), "index", str(tmp_path / "pics"), "-q", "--no-service"], env=env, check=True,
                   capture_output=True)
    cli_settings = Settings(data_dir=settings.data_dir, clip_model=settings.clip_model,
                            caption_model=settings.caption_model, device="cpu", precision="fp32")
    yield cli_settings, env
    ServiceClient(cli_settings).stop()


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([cli_path(), *args], capture_output=True, text=True, env=env, timeout=120)


def test_started_on_demand_and_answers_like_the_engine_in_process(lib: tuple[Settings, dict[str, str]],
                                                                   tmp_path: Path) -> None:
    settings, env = lib
    client = ServiceClient(settings)
    assert not client.running()
    pic = str(tmp_path / "pics" / "img_0003.png")
    for args in (["search", "a red bicycle", "--json"], ["search", f"{pic} + 0.5:snow", "--json", "-n", "4"],
                 ["similar", pic, "--json"], ["caption", pic, "--json"], ["search", "beach +"],
                 ["caption", str(tmp_path / "missing.png")], ["similar", str(tmp_path / "nope.png")]):
        warm, cold = run(env, *args), run(env, *args, "--no-service")
        assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr), args
        assert client.running()  # the first model command started it
    status = json.loads(run(env, "service", "status", "--json").stdout)
    assert status["running"] and status["pid"] > 0 and settings.clip_model in status["models_loaded"]
    assert status["memory_mb"] > 0 and 0 < status["idle_exit_in"] <= 600
    device = [line for line in run(env, "status").stdout.splitlines() if line.startswith("device")]
    assert device == [f"device     {status['device']} ({status['precision']}) in the warm service"], device
    ServiceClient(settings).stop()
    assert "device     cpu (fp32)\n" in run(env, "status").stdout  # the settings, with no service to ask


def test_no_service_and_similar_on_a_library_image_never_start_one(lib: tuple[Settings, dict[str, str]],
                                                                    tmp_path: Path) -> None:
    settings, env = lib
    assert run(env, "search", "red", "--no-service").returncode == 0
    assert run(env, "similar", str(tmp_path / "pics" / "img_0002.png")).returncode == 0
    assert not ServiceClient(settings).running() and not socket_path(settings).exists()
    code = ("import sys; from clipgit.tui.cli import main; rc = main(['similar', sys.argv[1], '--json']); "
            "print('torch' in sys.modules, rc, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "pics" / "img_0002.png")], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.stderr.strip() == "False 0" and len(json.loads(out.stdout)) == 9


def test_idle_exit_frees_the_service(lib: tuple[Settings, dict[str, str]]) -> None:
    settings, env = lib
    env["CLIPGIT_SERVICE_IDLE"] = "1.5"
    assert run(env, "search", "red").returncode == 0
    end = time.monotonic() + 20
    while socket_path(settings).exists() and time.monotonic() < end:
        time.sleep(0.1)
    assert not socket_path(settings).exists()


def test_a_service_killed_with_9_is_replaced(lib: tuple[Settings, dict[str, str]]) -> None:
    settings, env = lib
    assert run(env, "search", "red").returncode == 0
    pid = json.loads(run(env, "service", "status", "--json").stdout)["pid"]
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)
    assert socket_path(settings).exists()  # the stale socket is left behind
    again = run(env, "search", "red", "--json")
    assert again.returncode == 0 and len(json.loads(again.stdout)) == 10
    assert json.loads(run(env, "service", "status", "--json").stdout)["pid"] != pid


def test_clients_starting_at_once_start_one_service(lib: tuple[Settings, dict[str, str]]) -> None:
    settings, env = lib
    outs: list[subprocess.CompletedProcess[str]] = []
    threads = [threading.Thread(target=lambda: outs.append(run(env, "search", "red", "--json"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [o.returncode for o in outs] == [0] * 4 and len({o.stdout for o in outs}) == 1
    services = subprocess.run(["pgrep", "-f", "clipgit.tui.cli service run"], capture_output=True, text=True)
    mine = [p for p in services.stdout.split() if str(settings.data_dir) in _environ(int(p))]
    assert len(mine) == 1


def _environ(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_socket_is_private_and_bad_requests_do_not_take_it_down(lib: tuple[Settings, dict[str, str]]) -> None:
    settings, env = lib
    assert run(env, "search", "red").returncode == 0
    path = socket_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.parent == settings.data_dir
    for raw in (b"POST /v1/search HTTP/1.0\r\nContent-Length: 7\r\n\r\n{broken",
                b"POST /v1/search HTTP/1.0\r\nContent-Length: 99999999\r\n\r\n",
                b"POST /v1/search HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}",
                b"GET /v1/nothing HTTP/1.0\r\n\r\n", b"\x00\xff garbage\r\n\r\n"):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(path))
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
            answer = b"".join(iter(lambda: s.recv(65536), b""))
        assert answer.startswith(b"HTTP/1.0 4") or b'"error"' in answer
    assert ServiceClient(settings).running()


def test_peer_check_refuses_another_uid(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        assert peer_is_us(a)
        monkeypatch.setattr(os, "getuid", lambda: os.geteuid() + 4242)
        assert not peer_is_us(a)


def fake_service(settings: Settings, hello: dict[str, object],
                 stopped: threading.Event | None = None) -> socketserver.UnixStreamServer:
    """A service that only shakes hands with `hello` and, asked to stop, says it stops and sets `stopped`."""

    class Fake(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._json(hello)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._json({"stopping": True})
            if stopped is not None:
                stopped.set()

        def _json(self, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = socketserver.UnixStreamServer(str(socket_path(settings)), Fake)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def close_fake(server: socketserver.UnixStreamServer, settings: Settings) -> None:
    server.shutdown()
    server.server_close()
    socket_path(settings).unlink()


@pytest.mark.parametrize("same_protocol", [False, True])
def test_a_service_of_another_protocol_or_older_code_is_replaced(lib: tuple[Settings, dict[str, str]],
                                                                 same_protocol: bool) -> None:
    """A service outlives an upgrade: one that speaks another protocol, or runs code older than the
    client's (same protocol), is asked to go and replaced, with a one-line note."""
    settings, env = lib
    stopped = threading.Event()
    hello: dict[str, object] = {"service": "clipgit", "version": 0, "pid": os.getpid(), "key": "x"}
    if same_protocol:  # the code before this change sent no code_time: as old as can be
        hello.update(version=PROTOCOL_VERSION, identity=identity(settings))
    old = fake_service(settings, hello, stopped)

    def go_away() -> None:
        stopped.wait(30)
        close_fake(old, settings)

    threading.Thread(target=go_away, daemon=True).start()
    out = run(env, "search", "red", "--json")
    assert out.returncode == 0 and "restarting it" in out.stderr and stopped.is_set()
    assert ("clipgit was updated" in out.stderr) == same_protocol
    status = json.loads(run(env, "service", "status", "--json").stdout)
    assert status["version"] == PROTOCOL_VERSION and status["code_time"] == code_time(), (status, out.stderr)


def test_a_service_that_cannot_start_is_given_up_at_once(settings: Settings, tmp_path: Path) -> None:
    """A damaged library: the service exits as it starts, and the command says why in well under the 30 s
    it used to wait for a service that was gone."""
    data = tmp_path / "damaged"
    data.mkdir()
    (data / "library.db").write_bytes(b"not a database, whatever it once was" * 100)
    env = dict(cli_env(settings), CLIPGIT_SERVICE="1", CLIPGIT_DATA_DIR=str(data))
    started = time.monotonic()
    out = run(env, "search", "red")
    assert time.monotonic() - started < 10
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(f"clipgit-tui: error: the library {data / 'library.db'} is "
                                                          "damaged"), out.stderr


def test_a_newer_service_serves_an_older_client(lib: tuple[Settings, dict[str, str]]) -> None:
    """An app opened before an upgrade uses the service the upgraded command line started: no ping-pong."""
    settings, _ = lib
    client = ServiceClient(settings)
    hello = {"version": PROTOCOL_VERSION, "identity": identity(settings)}
    for code, ours in ((code_time() + 1, True), (code_time(), True), (code_time() - 1, False), (None, False)):
        service = fake_service(settings, hello if code is None else {**hello, "code_time": code})
        try:
            assert client.running() == ours, code  # a service not ours would be replaced
        finally:
            close_fake(service, settings)


class _NotedEngine:
    """An engine whose search answers nothing and whose vector-index note is whatever the test sets."""

    def __init__(self) -> None:
        self.note = ""

    def search(self, query: str, top: int = 10, folder: str | None = None, mode: str = "auto",
               sort: str = "score", exact: bool = False) -> list[object]:
        return []

    def vector_index_note(self) -> str:
        return self.note


class _DirectClient:
    """A ServiceClient that hands each request straight to a Service, without a socket."""

    def __init__(self, service: object, settings: Settings) -> None:
        self.service, self.settings = service, settings

    def call(self, method: str, route: str, body: dict[str, object] | None = None,
             timeout: float | None = None) -> dict[str, object]:
        code, answer = self.service.handle(method, route, body or {})  # type: ignore[attr-defined]
        assert code == 200, answer
        return dict(answer)


def test_a_search_through_the_service_carries_the_services_vector_index_note(settings: Settings) -> None:
    """`search` prints the engine's note (building, stale) through the service as it does in-process."""
    from clipgit.core.service.client import RemoteEngine
    from clipgit.core.service.server import Service

    engine = _NotedEngine()
    service = Service(settings, engine)  # type: ignore[arg-type]  # a stand-in engine
    remote = RemoteEngine(_DirectClient(service, settings))  # type: ignore[arg-type]
    assert remote.vector_index_note() == ""  # no search yet
    for note in ("building the approximate index (3,000 vectors): answering exactly meanwhile", ""):
        engine.note = note
        assert remote.search("a red bicycle") == [] and remote.vector_index_note() == note
