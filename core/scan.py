"""Walk folders and list candidate image files with the stat facts we compare.

Why a stat only: on a rescan an unchanged file (same size and mtime) must cost
nothing more, so a library of 100,000 files rescans in seconds. Problems met
while walking (dangling links, loops, unreadable folders) are reported, never
raised: one bad entry must not stop a walk.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field

IMAGE_EXTENSIONS = frozenset(
    [".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".dib", ".tif", ".tiff", ".heic", ".heif",
     ".avif"]
)


@dataclass(frozen=True)
class FileStat:
    path: str
    size: int
    mtime_ns: int


@dataclass
class Walk:
    files: list[FileStat] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def walk(root: str, *, include_hidden: bool = False, exclude_dirs: Iterable[str] = (),
         skip: Iterable[str] = ()) -> Walk:
    """All image-named regular files under `root`, following links to folders once; folders named in
    `exclude_dirs`, and the folders and files at the paths in `skip` (forgotten ones), are left out."""
    excluded = set(exclude_dirs)
    skipped = set(skip)
    result = Walk()
    seen_dirs: set[tuple[int, int]] = set()
    try:
        st = os.stat(root)
    except OSError as exc:
        result.problems.append((root, _reason(exc)))
        return result
    seen_dirs.add((st.st_dev, st.st_ino))
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            result.problems.append((folder, "cannot read folder: " + _reason(exc)))
            continue
        for entry in entries:
            name = entry.name
            if (not include_hidden and name.startswith(".")) or (skipped and entry.path in skipped):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if name in excluded:
                    continue
                try:
                    dst = entry.stat()
                except OSError as exc:
                    result.problems.append((entry.path, _reason(exc)))
                    continue
                key = (dst.st_dev, dst.st_ino)
                if key not in seen_dirs:
                    seen_dirs.add(key)
                    stack.append(entry.path)
                continue
            if not is_image_name(name):
                continue
            try:
                fst = entry.stat()
            except OSError as exc:
                result.problems.append((entry.path, _reason(exc)))
                continue
            if not stat.S_ISREG(fst.st_mode):
                result.problems.append((entry.path, "not a regular file"))
                continue
            result.files.append(FileStat(entry.path, fst.st_size, fst.st_mtime_ns))
    result.files.sort(key=lambda f: f.path)
    return result


def is_empty_folder(folder: str) -> bool:
    """Nothing at all in `folder`: an unmounted drive's mount point looks so, and a rescan then took every
    photo on the drive for deleted (a re-embedding of all of them once it was back)."""
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is None
    except OSError:
        return False


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "broken symbolic link (its target does not exist)"
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or str(exc)
