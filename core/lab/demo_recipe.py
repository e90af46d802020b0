"""The recipe for the offline demo models: a small CLIP and a small GIT trained on generated shapes.

It draws 48,000 pictures from core.lab.shapes (seeds 1 to 3): half plain (most
at 64 px, some at 160 px) and half drawn the many ways of `varied_picture`
(any rotation and aspect ratio, 96 to 300 px a side, smaller shapes, outlines,
anti-aliasing or not, blur, JPEG artefacts). It builds small random models
(3 layers, 128 wide; pictures squashed to 96 x 96, patches of 12), trains CLIP
with clipgit's own `train` (core.lab.train: batch 128, fp32) in two cycles, 14
epochs at a peak rate of 1e-3 and then 16 at 5e-4 from the first cycle's best
epoch, starts GIT's image encoder from that CLIP's vision tower (as GIT itself
was built) and trains GIT's text side with the encoder frozen (5 epochs, batch
32, 5e-4), saves both in fp16 (4 MB together), and measures them with `eval`
on fresh pictures (seeds 777 to 780). About 75 minutes on 2 CPU cores.

What made the difference (measured):
- a repeated caption counts as a match in the contrastive loss, instead of
  keeping repeats out of batches (a batch could hold "a red circle" once, so
  single shapes trickled through in tiny batches), and the warm-up + cosine
  learning rate: before them 100 epochs on 4,000 pictures reached a class
  precision@1 of 0.84 on single shapes and 0.20 on two; now 1.00 and 0.82;
- GIT: from scratch it named colours well and shapes badly (38% of single
  captions exact); with the CLIP tower trained along, 65-68%; frozen, 94%;
- fp32: bf16 autocast halved how fast these small models learned;
- pictures drawn other ways: the first demo models (plain pictures only,
  centre-cropped 64 px) found single shapes drawn another way at a class
  precision@1 of 0.74 and pairs at 0.35, with 41% of single captions exact.
  Squashing instead of cropping keeps both shapes of a wide picture; 48,000
  pictures for 14 epochs reached 0.94 / 0.50 / 86%; a second cycle of 16
  epochs from there, 1.00 / 0.71 / 91%.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

IMAGE = 96
PATCH = 12  # 8 x 8 patches, as many as the first demo models' 64 px with patches of 8: about the same cost


def build_small(work: Path) -> tuple[Path, Path]:
    import torch
    from transformers import (
        BertTokenizer,
        CLIPConfig,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
        GitConfig,
        GitForCausalLM,
        GitProcessor,
    )
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    from clipgit.core.lab.random_models import _save, write_bert_vocab, write_clip_tokenizer_files

    torch.manual_seed(0)
    tok = work / "clip-tok"
    vocab_size, bos, eos = write_clip_tokenizer_files(tok)
    vision = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=3, num_attention_heads=4,
                  image_size=IMAGE, patch_size=PATCH)
    text = dict(vocab_size=vocab_size, hidden_size=128, intermediate_size=256, num_hidden_layers=3,
                num_attention_heads=4, max_position_embeddings=77, bos_token_id=bos, eos_token_id=eos,
                pad_token_id=eos)
    clip = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=128))
    # squashed, not centre-cropped: a wide picture's shapes sit at its ends, where a crop would cut them off
    images = CLIPImageProcessorPil(size={"height": IMAGE, "width": IMAGE}, do_center_crop=False)
    processor = CLIPProcessor(image_processor=images, tokenizer=CLIPTokenizer.from_pretrained(tok, model_max_length=77))
    clip_dir = _save(work / "clip-base", clip, processor, tok)

    tok = work / "git-tok"
    vocab = write_bert_vocab(tok)
    cls_id, sep_id, pad_id = vocab.index("[CLS]"), vocab.index("[SEP]"), vocab.index("[PAD]")
    git = GitForCausalLM(GitConfig(vision_config=vision, vocab_size=len(vocab), hidden_size=128, num_hidden_layers=3,
                                   num_attention_heads=4, intermediate_size=256, max_position_embeddings=64,
                                   bos_token_id=cls_id, eos_token_id=sep_id, pad_token_id=pad_id))
    for key, value in (("bos_token_id", cls_id), ("eos_token_id", sep_id), ("pad_token_id", pad_id)):
        setattr(git.generation_config, key, value)
    git_processor = GitProcessor(image_processor=images, tokenizer=BertTokenizer.from_pretrained(tok))
    git_dir = _save(work / "git-base", git, git_processor, tok)
    return clip_dir, git_dir


def make_training_set(folder: Path, count: int) -> None:
    """Half drawn the many ways of `varied_picture`; the rest plain, most at 64 px, some at 160 px."""
    import json

    from clipgit.core.lab.shapes import make_gallery

    lines = []
    plain = count // 2
    for name, n, seed, side, varied in (("a", plain - plain // 4, 1, 64, False), ("b", plain // 4, 2, 160, False),
                                        ("c", count - plain, 3, 0, True)):
        for path, caption in make_gallery(folder / name, n, seed=seed, size=(side, side), two_shape_fraction=0.5,
                                          varied=varied):
            lines.append(json.dumps({"image": f"{name}/{path.name}", "caption": caption}))
        (folder / name / "captions.jsonl").unlink()
    (folder / "captions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def measure(clip_dir: Path, git_dir: Path, work: Path) -> dict[str, dict[str, float]]:
    """The demo's quality figures on fresh pictures (seeds never used in training)."""
    from clipgit.core.config import Settings
    from clipgit.core.engine import Engine
    from clipgit.core.lab.shapes import make_gallery

    figures = {}
    for name, seed, two, varied in (("single", 777, 0.0, False), ("two", 778, 1.0, False),
                                    ("varied single", 779, 0.0, True), ("varied two", 780, 1.0, True)):
        make_gallery(work / f"fresh-{name}", 400, seed=seed, size=(64, 64), two_shape_fraction=two, varied=varied)
        settings = Settings(data_dir=work / "eval-data", clip_model=str(clip_dir), caption_model=str(git_dir),
                            device="cpu", precision="fp32")
        with Engine(settings) as engine:
            report = [e for e in engine.evaluate_iter(str(work / f"fresh-{name}"))][-1].report
        assert report is not None and report.captioning is not None
        figures[name] = {"class_P@1": report.text_to_image["class_P@1"], "R@1": report.text_to_image["R@1"],
                         "exact captions": report.captioning["exact"], "BLEU-4": report.captioning["BLEU-4"]}
    return figures


def seed_git_vision(git_dir: Path, clip_dir: Path) -> None:
    """Start GIT's image encoder from the trained CLIP's vision tower, as GIT itself was built.

    Trained from scratch by the language-model loss alone, the small GIT named
    colours well but shapes badly (38% of single-shape captions exact after
    15 epochs); the contrastively trained tower already tells shapes apart.
    """
    import torch
    from transformers import AutoModelForCausalLM, CLIPModel

    clip = CLIPModel.from_pretrained(clip_dir, dtype=torch.float32)
    git: Any = AutoModelForCausalLM.from_pretrained(git_dir, dtype=torch.float32)  # GIT's parts: no static types
    git.git.image_encoder.vision_model.load_state_dict(clip.vision_model.state_dict())
    git.save_pretrained(git_dir, safe_serialization=True)


CLIP_CYCLES = ((14, 1e-3), (16, 5e-4))  # (epochs, peak learning rate): each a warm-up and a cosine to zero
RECIPE: dict[str, Any] = dict(images=48_000, clip_cycles=CLIP_CYCLES, git_epochs=5, git_lr=5e-4, batch_size=128,
                              git_batch_size=32)


def make(out: Path, *, images: int, clip_cycles: Sequence[tuple[int, float]], git_epochs: int, git_lr: float,
         batch_size: int, git_batch_size: int, log: Callable[[str], None] = print,
         reuse_clip: Path | None = None) -> dict[str, Any]:
    """Train both demo models from scratch into OUT; their figures on fresh pictures and the wall time.

    CLIP trains in cycles, each starting from the last one's best epoch; reuse_clip: a demo CLIP trained
    before, kept as it is (only GIT is trained).
    """
    import torch
    from transformers import AutoModelForCausalLM, CLIPModel

    from clipgit.core.lab.dataset import load_dataset
    from clipgit.core.lab.train import train_iter

    work = Path(tempfile.mkdtemp(prefix="clipgit-demo-"))
    started = time.monotonic()
    make_training_set(work / "data", images)
    clip_dir, git_dir = build_small(work)
    data = load_dataset(str(work / "data"))
    log(f"{len(data.images)} pictures drawn ({time.monotonic() - started:.0f} s)")
    trained = work / "trained"

    def run(model: str, base_clip: Path, epochs: int, lr: float) -> None:
        # fp32: bf16 autocast halved how fast these small models learned (measured), for no speed gain
        git = None if model == "clip" else str(git_dir)
        batch = batch_size if model == "clip" else git_batch_size
        for ev in train_iter(data, trained, base_clip=str(base_clip), base_git=git, epochs=epochs, batch_size=batch,
                             lr=lr, val_fraction=0.05, device="cpu", precision="fp32", resume=False,
                             cancel=threading.Event(), train_clip=model == "clip", freeze_image_encoder=True):
            if ev.val is not None:
                log(f"{ev.model} epoch {ev.epoch}: val {ev.val:.3f} best {ev.best:.3f} "
                    f"({time.monotonic() - started:.0f} s)")

    if reuse_clip is not None:
        shutil.copytree(reuse_clip, trained / "clip")
    else:
        for cycle, (epochs, lr) in enumerate(clip_cycles):
            base = clip_dir
            if cycle:  # the next cycle starts from this one's best epoch
                base = work / f"clip-cycle-{cycle}"
                shutil.copytree(trained / "clip", base)
            run("clip", base, epochs, lr)
    seed_git_vision(git_dir, trained / "clip")
    run("git", trained / "clip", git_epochs, git_lr)
    for name, cls in (("clip", CLIPModel), ("git", AutoModelForCausalLM)):
        target = out / name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(work / "trained" / name, target)
        model: Any = cls.from_pretrained(target, dtype=torch.float32)
        model.to(torch.float16).save_pretrained(target, safe_serialization=True)  # half the bytes
    seconds = time.monotonic() - started
    log(f"saved {out} in {seconds:.0f} s")
    figures = measure(out / "clip", out / "git", work)
    shutil.rmtree(work, ignore_errors=True)
    return {"seconds": seconds, "figures": figures}


