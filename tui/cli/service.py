"""The command line's side of the warm service: route model commands to it, and `service status|stop|run`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clipgit.core.config import Settings

if TYPE_CHECKING:
    from clipgit.core.service.client import RemoteEngine



def remote_engine(settings: Settings, args: argparse.Namespace) -> RemoteEngine | None:
    """The service's engine for this command, or None to run in-process (no service, or one is not needed).

    `similar` on a library image whose file is unchanged needs no model (its vector is stored): it runs
    in-process, without torch, unless a service is already warm.
    """
    from clipgit.core.service.client import RemoteEngine, ServiceClient, ServiceUnavailable

    if not ServiceClient.usable(settings):
        return None
    client = ServiceClient(settings)
    if args.command == "similar" and _stored_vector_usable(settings, args.query) and not client.running():
        return None
    try:
        note = client.ensure()
    except (ServiceUnavailable, OSError) as exc:
        print(f"clipgit-tui: note: running in-process: {' '.join(str(exc).split())}", file=sys.stderr)
        return None
    if note:
        print(note, file=sys.stderr)
    return RemoteEngine(client)


def _stored_vector_usable(settings: Settings, path: str) -> bool:
    from clipgit.core.search.searcher import stored_vector
    from clipgit.core.store.catalog import Catalog

    if not settings.db_path.exists():
        return False
    full = os.path.abspath(os.path.expanduser(path))
    cat = Catalog(settings.db_path)
    try:
        row = cat.image_by_path(full)
        return row is not None and stored_vector(cat, row, full, settings.clip_model) is not None
    finally:
        cat.close()


def service(settings: Settings, args: argparse.Namespace) -> int:

    if args.action == "run":
        from clipgit.core.service.protocol import settings_from_json
        from clipgit.core.service.server import serve

        inherited = os.environ.get("CLIPGIT_SERVICE_SETTINGS")
        serve(settings_from_json(inherited) if inherited else settings)
        return 0
    if args.action == "stop":
        return _stop(settings, args)
    running = _all_statuses()
    if args.json:
        mine = next((s for s in running if s.get("data_dir") == str(settings.data_dir)), None)
        print(json.dumps({**(mine or {"running": False}), "services": running}))
        return 0
    if not running:
        print("no service is running (the next index, search, similar, caption, eval or the app starts one)")
        return 0
    for i, status in enumerate(running):
        here = "  (this data dir)" if status.get("data_dir") == str(settings.data_dir) else ""
        models = ", ".join(status.get("models_loaded") or []) or "none yet"
        busy = "  busy: did not answer" if status.get("busy") else ""
        print(("\n" if i else "") + f"data dir   {status.get('data_dir')}{here}{busy}\npid        {status['pid']}")
        if "uptime" in status:
            print(f"uptime     {status['uptime']:.0f} s\nmodels     {models}\n"
                  f"device     {_device(status)}\nmemory     {status['memory_mb']:.0f} MB\n"
                  f"idle       {status['idle_seconds']:.0f} s (exits in {status['idle_exit_in']:.0f} s)")
    return 0


def _device(status: dict[str, Any]) -> str:
    if status.get("device") == "not loaded":
        return "chosen when a model loads (none loaded yet)"
    return f"{status['device']} ({status['precision']})"


def _all_statuses() -> list[dict[str, Any]]:
    """Each listed service's own status; one too busy to answer is listed as busy, with what it registered."""
    from clipgit.core.service import registry
    from clipgit.core.service.client import ServiceClient

    out = []
    for info in registry.services():
        client = ServiceClient(Settings(data_dir=Path(str(info.get("data_dir") or "."))))
        status = client.status()
        out.append(status if status is not None and status.get("pid") == info["pid"] else {**info, "busy": True})
    return out


def _stop(settings: Settings, args: argparse.Namespace) -> int:
    from clipgit.core.service import registry
    from clipgit.core.service.client import ServiceClient

    dirs = [str(settings.data_dir)]
    if args.all:
        dirs = list(dict.fromkeys([*(str(i.get("data_dir")) for i in registry.services()), *dirs]))
    stopped = [d for d in dirs if ServiceClient(Settings(data_dir=Path(d))).stop()]
    if args.json:
        print(json.dumps({"stopped": bool(stopped), "data_dirs": stopped}))
    elif not stopped:
        print("no service was running")
    else:
        for d in stopped:
            print(f"service stopped ({d})" if args.all else "service stopped")
    return 0
