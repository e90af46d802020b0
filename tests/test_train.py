"""`train`: a short run on generated shapes learns, saves loadable models, and resumes after a stop."""

from __future__ import annotations

import itertools
import json
import subprocess
import threading
from pathlib import Path

import pytest

from clipgit.core.config import Settings
from clipgit.core.engine import Engine
from clipgit.core.errors import Cancelled
from clipgit.core.lab.dataset import load_dataset
from clipgit.core.lab.shapes import COLORS, SHAPES, make_gallery, picture
from clipgit.core.lab.train import batches, contrastive_loss, positives, schedule, split, train_iter
from tests.conftest import cli_env, cli_path


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("shapes")
    make_gallery(folder, 300, seed=5, size=(32, 32), two_shape_fraction=0.0)
    return folder


def test_generator_follows_the_caption_grammar() -> None:
    import random

    rng = random.Random(1)
    for shapes in (1, 2):
        for _ in range(50):
            img, caption = picture(rng, (64, 48), shapes)
            parts = caption.split(" and ")
            assert len(parts) == shapes and img.size == (64, 48)
            for part in parts:
                a, color, shape = part.split(" ")
                assert a == "a" and color in COLORS and shape in SHAPES


def test_batches_cover_every_pair_and_repeated_captions_or_images_are_matches() -> None:
    import random

    pairs = [("a red circle", 0), ("a red circle", 1), ("a blue star", 1), ("a blue star", 2), ("x", 3)]
    out = batches(pairs, 2, random.Random(0))
    assert sorted(p for b in out for p in b) == sorted(pairs) and all(len(b) >= 2 for b in out)
    mask = positives([("a red circle", 0), ("a red circle", 1), ("a blue star", 1), ("x", 3)])
    assert mask.tolist() == [[True, True, False, False], [True, True, True, False], [False, True, True, False],
                             [False, False, False, True]]


def test_loss_with_distinct_pairs_is_clips_own_and_schedule_warms_then_decays() -> None:
    import numpy as np
    import torch
    from transformers.models.clip.modeling_clip import image_text_contrastive_loss

    logits = torch.randn(6, 6, generator=torch.Generator().manual_seed(0)) * 5
    ours = contrastive_loss(logits, torch.from_numpy(np.eye(6, dtype=bool)))
    assert torch.allclose(ours, image_text_contrastive_loss(logits), atol=1e-6)
    # a repeated caption: pushing its other image away no longer counts as right
    both = torch.from_numpy(positives([("a", 0), ("a", 1)]))
    assert float(contrastive_loss(torch.tensor([[5.0, 5.0], [5.0, 5.0]]), both)) < float(
        contrastive_loss(torch.tensor([[5.0, -5.0], [-5.0, 5.0]]), both))
    fractions = [schedule(step, 100) for step in range(100)]
    assert fractions[0] == 0.2 and max(fractions) == 1.0 == fractions[4] and fractions[-1] < 0.01
    assert all(a >= b for a, b in itertools.pairwise(fractions[4:]))


@pytest.mark.slow
def test_training_clip_beats_chance_and_saves_a_loadable_model(settings: Settings, shapes: Path,
                                                                tmp_path: Path) -> None:
    data = load_dataset(str(shapes))
    out = tmp_path / "trained"
    events = list(train_iter(data, out, base_clip=settings.clip_model, base_git=None, epochs=30, batch_size=32,
                             lr=2e-3, val_fraction=0.2, device="cpu", precision="auto", resume=False,
                             cancel=threading.Event()))
    vals = [e.val for e in events if e.val is not None]
    # validation counts a hit when the top image has the query's caption: chance is that caption's share
    _, held = split(data, 0.2)
    captions = [c for c, o in zip(data.captions, data.owner) if o in set(held)]
    chance = sum(captions.count(c) for c in captions) / len(captions) / len(held)
    assert max(vals) >= 5 * chance and events[-1].best == max(vals)
    with Engine(settings.with_(clip_model=str(out / "clip"))) as engine:  # loads like any model folder
        report = [e for e in engine.evaluate_iter(str(shapes), captions=False)][-1].report
        assert report is not None and report.text_to_image["R@10"] > 10 / 300


@pytest.mark.slow
def test_stop_then_resume_continues_from_the_checkpoint(settings: Settings, shapes: Path, tmp_path: Path) -> None:
    data = load_dataset(str(shapes))
    out = tmp_path / "run"
    cancel = threading.Event()
    seen = []
    with pytest.raises(Cancelled):
        for ev in train_iter(data, out, base_clip=settings.clip_model, base_git=None, epochs=4, batch_size=32,
                             lr=1e-3, val_fraction=0.2, device="cpu", precision="fp32", resume=False,
                             cancel=cancel):
            seen.append(ev)
            if ev.epoch == 2 and ev.step == 2:
                cancel.set()
    assert (out / "checkpoint-clip.pt").exists()
    rest = list(train_iter(data, out, base_clip=settings.clip_model, base_git=None, epochs=4, batch_size=32,
                           lr=1e-3, val_fraction=0.2, device="cpu", precision="fp32", resume=True,
                           cancel=threading.Event()))
    assert rest[0].epoch == 2 and rest[-1].epoch == 4  # epoch 2 starts again; 1 is not redone


@pytest.mark.slow
def test_train_command_with_captioner(settings: Settings, shapes: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    run = subprocess.run([cli_path(), "train", str(shapes), "--out", str(out), "--captioner", "--epochs", "3",
                          "--lr", "2e-3", "--val-fraction", "0.2", "--json"], env=cli_env(settings),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    models = json.loads(run.stdout)["models"]
    assert set(models) == {"clip", "git"}
    losses = models["git"]
    assert losses["best"] is not None and losses["best"] <= losses["val"] + 1e-9
    with Engine(settings.with_(caption_model=str(out / "git"))) as engine:
        caption = engine.caption([str(sorted(shapes.glob("*.png"))[0])])[0].caption
    assert caption is not None
    frozen = tmp_path / "frozen"
    run = subprocess.run([cli_path(), "train", str(shapes), "--out", str(frozen), "--captioner", "--epochs", "1",
                          "--lr", "2e-3", "--freeze-image-encoder", "--json"], env=cli_env(settings),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    from safetensors.numpy import load_file

    before = load_file(str(Path(settings.caption_model) / "model.safetensors"))
    after = load_file(str(frozen / "git" / "model.safetensors"))
    encoder = [k for k in before if ".image_encoder." in k]
    assert encoder and all((before[k] == after[k]).all() for k in encoder)
    assert any(not (before[k] == after[k]).all() for k in before if k not in encoder)
    bad = subprocess.run([cli_path(), "train", str(tmp_path / "none"), "--out", str(out)], env=cli_env(settings),
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "not found" in bad.stderr


def test_train_with_its_defaults_on_the_half_precision_demo_models(tmp_path: Path) -> None:
    """The demo weights are fp16: training casts them to fp32 master weights under autocast, and
    `--base demo` names the shipped CLIP as `--clip-model demo` does."""
    import math

    from safetensors.numpy import load_file

    from clipgit.core.config import DEMO_DIRS

    gallery = tmp_path / "gallery"
    make_gallery(gallery, 8, seed=3, size=(32, 32), two_shape_fraction=0.0)
    assert {str(v.dtype) for v in load_file(str(DEMO_DIRS["clip_model"] / "model.safetensors")).values()} == {
        "float16"}
    out = tmp_path / "out"
    env = cli_env(Settings(data_dir=tmp_path / "data", clip_model=str(DEMO_DIRS["clip_model"]),
                           caption_model=str(DEMO_DIRS["caption_model"])))
    # bf16 is what `auto` picks on a CPU that has it; CPU autocast refused the fp16 weights in either
    run = subprocess.run([cli_path(), "train", str(gallery), "--out", str(out), "--epochs", "1", "--base", "demo",
                          "--caption-model", "demo", "--captioner", "--val-fraction", "0.25", "--precision", "bf16",
                          "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    models = json.loads(run.stdout)["models"]
    assert set(models) == {"clip", "git"} and all(math.isfinite(m["val"]) for m in models.values())
    saved = load_file(str(out / "clip" / "model.safetensors"))
    assert {str(v.dtype) for v in saved.values()} == {"float32"}
