"""Forgetting part of the library, and keeping it forgotten.

Why: a sub-folder (or a file) forgotten inside a library folder came back at that folder's next rescan,
and the app rescans its folders when it opens and whenever files change, so `forget ~/Pictures/old`
lasted minutes. A forgotten part of a library folder is now remembered (the catalog's `excluded` table)
and every walk of that folder leaves it out, until the user indexes that very path again.
"""

from __future__ import annotations

import os

from clipgit.core.errors import ClipgitError, NotInLibrary
from clipgit.core.names import within
from clipgit.core.store.catalog import Catalog


def forget(cat: Catalog, target: str) -> int:
    """Drop a library folder, or everything at or under a path inside one (kept out of its rescans from
    now on); returns the files dropped. Raises NotInLibrary for a path outside every library folder."""
    with cat.transaction():
        dropped = cat.ids_under(target)
        row = cat.image_by_path(target)
        if row is not None:
            dropped.append(row.id)
        folders = [f for f in cat.folders() if within(f.path, target)]
        holder = None if folders else cat.folder_containing(target)
        if not dropped and not folders and (holder is None or not os.path.lexists(target)):
            raise NotInLibrary(f"{target} is not in the library")  # a typo is not kept out of rescans
        cat.delete_images(dropped)
        for f in folders:
            cat.remove_folder(f.id)
        if holder is not None:
            cat.exclude(target, holder.id)
    return len(dropped)


def index_roots(cat: Catalog, paths: list[str]) -> list[str]:
    """The paths an index run walks: a file of a library folder by a walk of that folder (`index FILE --ocr`
    then reads that file's text); a forgotten path that the user names is brought back (a forgotten file
    likewise); a path inside a forgotten folder is refused, since that folder's rescans would drop it again."""
    excluded = cat.excluded()
    roots: list[str] = []
    with cat.transaction():
        for path in paths:
            full = os.path.abspath(os.path.expanduser(path)).rstrip("/") or "/"
            if full in excluded:
                cat.lift_exclusion(full)
                holder = cat.folder_containing(full)
                roots.append(holder.path if holder is not None and not os.path.isdir(full) else path)
                continue
            inside = next((e for e in excluded if within(full, e)), None)
            if inside is not None:
                raise ClipgitError(f"{full} is inside {inside}, which was forgotten: index {inside} to bring it "
                                   "back")
            holder = cat.folder_containing(full) if os.path.isfile(full) else None
            roots.append(holder.path if holder is not None else path)  # a file of the library: its folder's walk
    return roots
