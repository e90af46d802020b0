"""Captioned image datasets on disk: captions.jsonl, captions.csv, or name.txt beside name.jpg.

Why several layouts: COCO and Flickr30k exports come as JSON lines or CSV
with several captions per image; hand-made sets are often sidecar text
files. Problems (missing images, empty captions, bad lines) are collected
with reasons, never raised, unless nothing usable remains.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from clipgit.core.errors import ClipgitError
from clipgit.core.scan import is_image_name, walk


@dataclass
class Dataset:
    root: str
    images: list[str] = field(default_factory=list)  # absolute paths
    captions: list[str] = field(default_factory=list)
    owner: list[int] = field(default_factory=list)  # captions[i] describes images[owner[i]]
    problems: list[tuple[str, str]] = field(default_factory=list)

    def add(self, image: str, caption: str, where: str) -> None:
        caption = " ".join(str(caption).split())
        path = os.path.abspath(os.path.join(self.root, image))
        if not caption:
            self.problems.append((where, "empty caption"))
            return
        if not os.path.isfile(path):
            self.problems.append((where, f"image not found: {image}"))
            return
        if path not in self._index:
            self._index[path] = len(self.images)
            self.images.append(path)
        self.captions.append(caption)
        self.owner.append(self._index[path])

    def __post_init__(self) -> None:
        self._index: dict[str, int] = {}


def load_dataset(folder: str) -> Dataset:
    root = os.path.abspath(os.path.expanduser(folder))
    if not os.path.isdir(root):
        raise ClipgitError(f"dataset folder not found: {folder}")
    data = Dataset(root)
    jsonl, csv_file = Path(root) / "captions.jsonl", Path(root) / "captions.csv"
    if jsonl.is_file():
        _read_jsonl(jsonl, data)
    elif csv_file.is_file():
        _read_csv(csv_file, data)
    else:
        _read_sidecars(root, data)
    if not data.captions:
        detail = f": {data.problems[0][0]}: {data.problems[0][1]}" if data.problems else ""  # the first, named
        raise ClipgitError(f"no usable image-caption pairs in {folder} (expected captions.jsonl, captions.csv "
                           f"or name.txt beside name.jpg){detail}")
    return data


def _read_jsonl(path: Path, data: Dataset) -> None:
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            where = f"{path.name}:{number}"
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                data.add(str(row["image"]), str(row["caption"]), where)
            except (json.JSONDecodeError, KeyError, TypeError):
                data.problems.append((where, 'not a JSON object with "image" and "caption"'))


def _read_csv(path: Path, data: Dataset) -> None:
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"image", "caption"} <= set(reader.fieldnames):
            data.problems.append((path.name, "the header must name the columns image and caption"))
            return
        for number, row in enumerate(reader, start=2):
            data.add(row.get("image") or "", row.get("caption") or "", f"{path.name}:{number}")


def _read_sidecars(root: str, data: Dataset) -> None:
    for f in walk(root).files:
        if not is_image_name(f.path):
            continue
        text_file = os.path.splitext(f.path)[0] + ".txt"
        rel = os.path.relpath(f.path, root)
        if not os.path.isfile(text_file):
            data.problems.append((rel, f"no {os.path.basename(text_file)} beside it"))
            continue
        with open(text_file, encoding="utf-8", errors="replace") as fh:
            lines = [line.strip() for line in fh if line.strip()]
        if not lines:
            data.problems.append((rel, "empty caption"))
        for line in lines:  # several lines: several captions
            data.add(rel, line, rel)
