"""A live library: which library folders changed, as it happens, so they can be indexed again.

Why watchfiles: a maintained watcher over the operating system's events
(inotify, FSEvents, ReadDirectoryChangesW) that groups bursts of changes
(a camera import is hundreds of files) into one answer. Where events cannot be
had (network shares, some containers) it polls. Either way the caller gets the
library folders that changed, and indexing them again is cheap for what did not
(a stat and a lookup per unchanged file); moves, deletions and edits are the
index run's to sort out.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator

from clipgit.core.names import within
from clipgit.core.scan import is_image_name

DEBOUNCE_MS = 1_500  # changes within this long come as one answer


def watch_folders(folders: Iterable[str], cancel: threading.Event, *, poll: bool | None = None,
                  debounce_ms: int = DEBOUNCE_MS) -> Iterator[list[str]]:
    """Yields the library folders (of `folders`) under which image files were added, changed, moved or
    deleted; returns when `cancel` is set. poll=None: the watcher decides (it polls where it must)."""
    import watchfiles

    # its warnings ("KeyboardInterrupt caught, stopping watch") went to stderr through logging's last resort:
    # under the open app that is the screen Textual draws on, and the command line says so itself
    quiet = logging.getLogger("watchfiles")
    if not quiet.handlers:
        quiet.addHandler(logging.NullHandler())
    roots = sorted({os.path.abspath(f).rstrip("/") or "/" for f in folders if os.path.isdir(f)})
    if not roots:
        return
    if poll is None and any(on_network_share(r) for r in roots):
        poll = True  # the system sends no events for changes made on another machine
    try:
        for changes in watchfiles.watch(*roots, watch_filter=_images, debounce=debounce_ms, stop_event=cancel,
                                        force_polling=poll, raise_interrupt=False, ignore_permission_denied=True):
            touched = sorted({root for _, path in changes for root in roots if within(path, root)})
            if touched:
                yield touched
    except OSError:  # no more watches to be had (inotify's limit): poll instead
        if poll:
            raise
        yield from watch_folders(roots, cancel, poll=True, debounce_ms=debounce_ms)


NETWORK_FILESYSTEMS = {"nfs", "nfs4", "cifs", "smbfs", "smb3", "9p", "afs", "fuse.sshfs", "fuse.rclone", "davfs",
                       "fuse.davfs2", "ceph", "glusterfs", "fuse.glusterfs"}


def on_network_share(path: str) -> bool:
    """Whether `path` lies on a network file system (read from /proc/mounts; False where there is none)."""
    try:
        with open("/proc/mounts", encoding="utf-8", errors="replace") as fh:
            mounts = [line.split()[1:3] for line in fh if len(line.split()) >= 3]
    except OSError:
        return False
    best, kind = "", ""
    for point, fstype in mounts:
        point = point.replace("\\040", " ")
        if within(path, point) and len(point) > len(best):
            best, kind = point, fstype
    return kind in NETWORK_FILESYSTEMS


def _images(change: object, path: str) -> bool:
    """Image files, and folders (a folder moved or deleted takes its images with it)."""
    return is_image_name(path) or not os.path.splitext(path)[1]
