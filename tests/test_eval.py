"""`eval`: dataset layouts, recall equal to a direct computation, caption scores, bad datasets."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from clipgit.core.config import Settings
from clipgit.core.engine import Engine
from clipgit.core.errors import ClipgitError
from clipgit.core.lab.dataset import load_dataset
from clipgit.core.lab.evaluate import caption_scores, recall_at_k
from tests.conftest import cli_env, cli_path, make_photos
from tests.helpers import reference

WORDS = ["a red car", "a dog on a beach", "two cats", "a sunset over the sea", "a man riding a horse",
         "a small bird", "a plate of food", "a city street at night"]


def _jsonl_dataset(folder: Path, n: int = 8) -> Path:
    paths = make_photos(folder, n)
    with (folder / "captions.jsonl").open("w") as fh:
        for i, p in enumerate(paths):
            fh.write(json.dumps({"image": p.name, "caption": WORDS[i % len(WORDS)]}) + "\n")
            fh.write(json.dumps({"image": p.name, "caption": WORDS[(i + 3) % len(WORDS)] + " again"}) + "\n")
    return folder


def test_three_layouts_load_the_same_pairs(tmp_path: Path) -> None:
    a = _jsonl_dataset(tmp_path / "a", 3)
    b = tmp_path / "b"
    make_photos(b, 3)
    (b / "captions.csv").write_text("image,caption\n" + "".join(
        f'img_{i:04d}.png,"{WORDS[i]}"\nimg_{i:04d}.png,{WORDS[(i + 3) % 8]} again\n' for i in range(3)))
    c = tmp_path / "c"
    make_photos(c, 3)
    for i in range(3):
        (c / f"img_{i:04d}.txt").write_text(f"{WORDS[i]}\n{WORDS[(i + 3) % 8]} again\n")
    loaded = [load_dataset(str(x)) for x in (a, b, c)]
    pairs = [sorted((Path(d.images[o]).name, t) for t, o in zip(d.captions, d.owner)) for d in loaded]
    assert pairs[0] == pairs[1] == pairs[2] and len(pairs[0]) == 6


def test_bad_lines_and_missing_images_are_reported_not_fatal(tmp_path: Path) -> None:
    folder = _jsonl_dataset(tmp_path / "d", 2)
    with (folder / "captions.jsonl").open("a") as fh:
        fh.write('{"image": "missing.png", "caption": "x"}\nnot json\n{"image": "img_0000.png", "caption": "  "}\n')
    data = load_dataset(str(folder))
    assert len(data.images) == 2 and len(data.captions) == 4
    reasons = [r for _, r in data.problems]
    assert any("not found" in r for r in reasons) and any("JSON" in r for r in reasons)
    assert any("empty caption" in r for r in reasons)
    empty = tmp_path / "e"
    empty.mkdir()
    (empty / "captions.jsonl").write_text('{"image": "nope.png", "caption": "x"}\n')
    with pytest.raises(ClipgitError, match=r"no usable.*: captions\.jsonl:1: image not found: nope\.png"):
        load_dataset(str(empty))  # the first problem, with where it is
    bare = tmp_path / "bare"
    make_photos(bare, 1)
    with pytest.raises(ClipgitError, match=re.escape("img_0000.png: no img_0000.txt beside it")):
        load_dataset(str(bare))


def test_recall_equals_a_direct_computation_with_the_reference_model(engine: Engine, tmp_path: Path) -> None:
    folder = _jsonl_dataset(tmp_path / "set", 8)
    data = load_dataset(str(folder))
    report = [e for e in engine.evaluate_iter(str(folder), captions=False)][-1].report
    assert report is not None and report.images == 8 and report.captions == 16
    img, txt = reference(engine.settings.clip_model, [Path(p) for p in data.images], data.captions)
    sims = txt @ img.T
    owner = np.array(data.owner)
    for k in (1, 5, 10):
        t2i = np.mean([owner[i] in np.argsort(-sims[i])[:k] for i in range(len(owner))])
        i2t = np.mean([any(owner[c] == j for c in np.argsort(-sims[:, j])[:k]) for j in range(8)])
        assert report.text_to_image[f"R@{k}"] == pytest.approx(t2i, abs=1 / 16 + 1e-9)
        assert report.image_to_text[f"R@{k}"] == pytest.approx(i2t, abs=1 / 8 + 1e-9)
    assert report.text_to_image["R@10"] == 1.0 and report.image_to_text["R@10"] == 1.0  # only 8 images


def test_recall_at_k_on_known_vectors() -> None:
    images = np.eye(3, dtype=np.float32)
    texts = np.array([[1, 0, 0], [0, 0, 1], [0, 0.9, 0.1]], dtype=np.float32)
    t2i, i2t = recall_at_k(images, texts, [0, 1, 2], ks=(1, 2))
    # caption 0 finds image 0 first; captions 1 and 2 find image 2 and image 1 first, their own second
    assert t2i == {"R@1": pytest.approx(1 / 3), "R@2": 1.0}
    # image 0 finds caption 0 first; images 1 and 2 find captions 2 and 1 first
    assert i2t == {"R@1": pytest.approx(1 / 3), "R@2": 1.0}


def test_class_precision_counts_a_hit_when_the_top_image_has_the_caption() -> None:
    from clipgit.core.lab.evaluate import class_precision_at_1

    images = np.eye(3, dtype=np.float32)
    texts = np.array([[1, 0, 0], [1, 0, 0], [0, 0.2, 1]], dtype=np.float32)
    # "red" describes images 0 and 1 (top: image 0, a hit); "blue" describes image 1 (top: image 2, a miss)
    assert class_precision_at_1(images, texts, ["red", "red", "blue"], [0, 1, 1]) == 0.5
    # the order of "and"-joined parts does not make another class: image 1 shows "a star and a dot" too
    pair = ["a dot and a star", "a star and a dot", "a dot"]
    assert class_precision_at_1(images, np.array([[0, 1, 0], [0, 1, 0], [1, 0, 0]], dtype=np.float32), pair,
                                [0, 1, 2]) == 0.5


def test_caption_scores_perfect_and_wrong() -> None:
    refs = [["a red circle", "a red round circle"], ["a blue square"]]
    perfect = caption_scores(["a red circle", "a blue square"], refs)
    wrong = caption_scores(["two dogs", "a cat"], refs)
    assert perfect["CIDEr-D"] > wrong["CIDEr-D"] and perfect["BLEU-4"] > wrong["BLEU-4"]


def test_eval_command_json(settings: Settings, tmp_path: Path) -> None:
    folder = _jsonl_dataset(tmp_path / "set", 6)
    out = subprocess.run([cli_path(), "eval", str(folder), "--json"], env=cli_env(settings), capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["images"] == 6 and report["captions"] == 12
    for side in ("text_to_image", "image_to_text"):
        assert {"R@1", "R@5", "R@10"} <= set(report[side]) and all(0 <= v <= 1 for v in report[side].values())
    assert "class_P@1" in report["text_to_image"]
    assert set(report["captioning"]) == {"BLEU-4", "CIDEr-D", "exact"}
    quick = subprocess.run([cli_path(), "eval", str(folder), "--json", "--no-captions"], env=cli_env(settings),
                           capture_output=True, text=True, timeout=180)
    assert "captioning" not in json.loads(quick.stdout)
    bad = subprocess.run([cli_path(), "eval", str(tmp_path / "nothing")], env=cli_env(settings),
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "dataset folder not found" in bad.stderr
