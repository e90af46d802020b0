"""Every clipgit service of this user, whatever its data dir, so that `service status` can list them all and
`service stop --all` can stop them.

Why a folder of small files: a service writes `PID.json` (mode 0600) when it starts and removes it when it
exits; one killed with -9 leaves its file, which the next reader drops once it finds the process gone. The
folder is the user's runtime dir (`CLIPGIT_RUNTIME_DIR` overrides it: tests, or several users' sandboxes).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any


def registry_dir() -> Path:
    env = os.environ.get("CLIPGIT_RUNTIME_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    with warnings.catch_warnings():  # without XDG_RUNTIME_DIR platformdirs warns in two lines; its answer will do
        warnings.simplefilter("ignore")
        runtime = Path(platformdirs.user_runtime_dir("clipgit", appauthor=False))
    if runtime.parent.is_dir() and os.access(runtime.parent, os.W_OK):
        return runtime / "services"
    return Path(platformdirs.user_cache_dir("clipgit", appauthor=False)) / "services"


def register(info: dict[str, Any]) -> Path | None:
    """Record this service; None when the folder cannot be written (it still serves, unlisted)."""
    folder = registry_dir()
    path = folder / f"{os.getpid()}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({**info, "pid": os.getpid()}, fh)
        os.replace(tmp, path)
    except OSError:
        return None
    return path


def unregister(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


def services() -> list[dict[str, Any]]:
    """The services of this user whose process is alive, oldest first; dead ones' files are removed."""
    found: list[dict[str, Any]] = []
    try:
        entries = sorted(registry_dir().glob("*.json"))
    except OSError:
        return found
    for path in entries:
        try:
            info = json.loads(path.read_text())
            pid = int(info["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not _alive(pid):
            path.unlink(missing_ok=True)
            continue
        found.append(info)
    return sorted(found, key=lambda i: float(i.get("started") or 0))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
