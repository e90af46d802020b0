"""The command line's side of the warm service: route model commands to it, and `service status|stop|run`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from clipgit.core.config import Settings


def remote_engine(settings: Settings, args: argparse.Namespace) -> Any | None:
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
    from clipgit.core.catalog import Catalog
    from clipgit.core.search import stored_vector

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
    from clipgit.core.service.client import ServiceClient

    if args.action == "run":
        from clipgit.core.service.protocol import settings_from_json
        from clipgit.core.service.server import serve

        inherited = os.environ.get("CLIPGIT_SERVICE_SETTINGS")
        serve(settings_from_json(inherited) if inherited else settings)
        return 0
    client = ServiceClient(settings)
    if args.action == "stop":
        stopped = client.stop()
        if args.json:
            print(json.dumps({"stopped": stopped}))
        else:
            print("service stopped" if stopped else "no service was running")
        return 0
    status = client.status()
    if args.json:
        print(json.dumps(status if status is not None else {"running": False}))
        return 0
    if status is None:
        print("no service is running (the next index, search, similar, caption, eval or the app starts one)")
        return 0
    models = ", ".join(status["models_loaded"]) or "none yet"
    print(f"pid        {status['pid']}\nuptime     {status['uptime']:.0f} s\nmodels     {models}\n"
          f"device     {status['device']} ({status['precision']})\nmemory     {status['memory_mb']:.0f} MB\n"
          f"idle       {status['idle_seconds']:.0f} s (exits in {status['idle_exit_in']:.0f} s)")
    return 0
