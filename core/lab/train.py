"""`train`: fine-tune CLIP contrastively (and GIT as a captioner) on a captioned dataset.

CLIP: symmetric InfoNCE with its learnable temperature, where every caption
matches every image that has that caption (see `positives`). GIT: the
teacher-forced language-model loss. Part of the data is held out: CLIP keeps
the epoch with the best validation text->image Recall@1 (an image with the
very caption counts as a hit), GIT the one with the lowest validation loss.
Ctrl+C (or the cancel event) saves a checkpoint that `resume=True`
continues from.

The learning rate warms up linearly over the first 5% of steps and then
decays along a cosine to zero (CLIP's own schedule): a constant rate kept
small models wandering around a mediocre accuracy.
"""

from __future__ import annotations

import math
import os
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clipgit.core.decode.image import Preprocess, load
from clipgit.core.errors import Cancelled, ClipgitError, ImageUnreadable
from clipgit.core.ingest.pipeline import decoded
from clipgit.core.lab.dataset import Dataset
from clipgit.core.models.hub import load as load_model
from clipgit.core.models.hub import quiet_transformers, resolve_device, resolve_dtype
from clipgit.core.progress import Meter, Progress


@dataclass(frozen=True)
class TrainProgress(Progress[None]):
    """A training step (phase: the model, done/total: steps of this epoch) or an epoch's validation."""

    model: str = "clip"  # "clip" | "git"
    epoch: int = 0
    epochs: int = 0
    loss: float = float("nan")
    val: float | None = None  # CLIP: validation R@1; GIT: validation loss
    best: float | None = None
    saved: str | None = None

    @property
    def step(self) -> int:
        return self.done

    @property
    def steps(self) -> int:
        return self.total


def _step_event(name: str, epoch: int, epochs: int, step: int, steps: int, loss: float, rate: float,
                eta: float | None, val: float | None = None, best: float | None = None,
                saved: str | None = None) -> TrainProgress:
    note = f"epoch {epoch}/{epochs}" + ("" if loss != loss else f" loss {loss:.3f}")
    return TrainProgress(name, step, steps, rate, eta, "steps", note=note, model=name, epoch=epoch, epochs=epochs,
                         loss=loss, val=val, best=best, saved=saved)


def split(data: Dataset, val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Image indices for training and validation (every caption of an image goes the same way)."""
    order = list(range(len(data.images)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(order) * val_fraction)) if val_fraction > 0 and len(order) > 1 else 0
    return sorted(order[n_val:]), sorted(order[:n_val])


def batches(pairs: list[tuple[str, int]], size: int, rng: random.Random) -> list[list[tuple[str, int]]]:
    """Shuffled full batches (a last batch of one joins the one before: alone it teaches nothing)."""
    pool = pairs[:]
    rng.shuffle(pool)
    out = [pool[i:i + size] for i in range(0, len(pool), size)]
    if len(out) > 1 and len(out[-1]) < 2:
        last = out.pop()
        out[-1] = out[-1] + last
    return out


def positives(batch: list[tuple[str, int]]) -> np.ndarray:
    """Which (caption, image) cells of a batch are matches: the same caption text or the same image.

    Datasets repeat captions (five per COCO image; 32 for every "a red circle"
    of the shapes): scoring a repeat as a negative would punish the model for
    being right, and keeping repeats out of batches starved them.
    """
    texts = np.array([t for t, _ in batch], dtype=object)
    owners = np.array([o for _, o in batch])
    mask: np.ndarray = (texts[:, None] == texts[None, :]) | (owners[:, None] == owners[None, :])
    return mask


def contrastive_loss(logits_per_text: Any, mask: Any) -> Any:
    """Symmetric InfoNCE with every match a target (CLIP's loss when each caption matches only its image)."""
    import torch

    target = mask.float()
    t2i = -(target / target.sum(1, keepdim=True) * torch.log_softmax(logits_per_text, 1)).sum(1).mean()
    i2t = -(target.T / target.T.sum(1, keepdim=True) * torch.log_softmax(logits_per_text.T, 1)).sum(1).mean()
    return (t2i + i2t) / 2


class _Pixels:
    """Decoded, preprocessed images, cached in memory (training reads each image every epoch)."""

    def __init__(self, data: Dataset, preprocess: Preprocess, workers: int) -> None:
        self.data, self.pp, self.workers = data, preprocess, workers
        self.cache: dict[int, np.ndarray] = {}

    def get(self, indices: list[int]) -> np.ndarray:
        missing = [i for i in indices if i not in self.cache]
        for one in decoded(missing, self._one, workers=self.workers):
            if one.value is None:  # _usable read it before training started: it changed since
                raise ImageUnreadable(f"{self.data.images[one.item]}: {one.error}")
            self.cache[one.item] = one.value
        return np.stack([self.cache[i] for i in indices])

    def _one(self, i: int) -> np.ndarray:
        return self.pp(load(self.data.images[i], draft_size=self.pp.draft_size).image)


def _usable(data: Dataset) -> Dataset:
    """Drop images that cannot be decoded (and their captions), reporting them."""
    bad = set()
    for one in decoded(range(len(data.images)), lambda i: load(data.images[i], draft_size=64).width):
        if one.error is not None:
            bad.add(one.item)
            data.problems.append((data.images[one.item], one.error))
    if not bad:
        return data
    clean = Dataset(data.root, problems=data.problems)
    for text, owner in zip(data.captions, data.owner):
        if owner not in bad:
            clean.add(os.path.relpath(data.images[owner], data.root), text, "")
    if not clean.captions:
        raise ClipgitError("no usable image-caption pairs remain")
    return clean


def train_iter(data: Dataset, out: Path, *, base_clip: str, base_git: str | None, epochs: int, batch_size: int,
               lr: float, val_fraction: float, device: str, precision: str, resume: bool,
               cancel: threading.Event, seed: int = 0, workers: int = 2,
               train_clip: bool = True, freeze_image_encoder: bool = False) -> Iterator[TrainProgress]:
    quiet_transformers()
    import torch

    data = _usable(data)
    train_imgs, val_imgs = split(data, val_fraction, seed)
    if not train_imgs:
        raise ClipgitError("the dataset is too small to hold anything out; lower --val-fraction")
    dev = resolve_device(device)
    dtype = resolve_dtype(precision, dev)
    autocast = dtype != torch.float32
    torch.manual_seed(seed)
    if train_clip:
        yield from _train_clip(data, out / "clip", base_clip, train_imgs, val_imgs, epochs, batch_size, lr, dev,
                               dtype if autocast else None, resume, cancel, seed, workers)
    if base_git is not None:
        yield from _train_git(data, out / "git", base_git, train_imgs, val_imgs, epochs, batch_size, lr, dev,
                              dtype if autocast else None, resume, cancel, seed, workers, freeze_image_encoder)


def schedule(step: int, total: int) -> float:
    """The fraction of the peak learning rate at a step: linear warm-up over 5% of the steps, then a cosine to 0."""
    warm = max(1, total // 20)
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))


def _checkpoint(path: Path, model: Any, optimizer: Any, epoch: int, best: float | None) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch, "best": best},
               path)


def _restore(path: Path, model: Any, optimizer: Any) -> tuple[int, float | None]:
    import torch

    if not path.is_file():
        raise ClipgitError(f"nothing to resume: {path} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["epoch"]), state["best"]


def _loop(name: str, model: Any, out: Path, epochs: int, steps_per_epoch: int, step_fn: Any, validate: Any,
          better: Any, save: Any, resume: bool, cancel: threading.Event, lr: float) -> Iterator[TrainProgress]:
    import torch

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
    ckpt = out.parent / f"checkpoint-{name}.pt"
    start, best = _restore(ckpt, model, optimizer) if resume and ckpt.exists() else (0, None)
    meter = Meter((epochs - start) * steps_per_epoch, unit="steps")
    done_steps = 0
    for epoch in range(start, epochs):
        model.train()
        try:
            for step, loss in enumerate(step_fn(epoch), start=1):
                if cancel.is_set():
                    raise Cancelled("training stopped")
                for group in optimizer.param_groups:
                    group["lr"] = lr * schedule(epoch * steps_per_epoch + step - 1, epochs * steps_per_epoch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                done_steps += 1
                at: Progress[None] = meter.at(name, done_steps)
                yield _step_event(name, epoch + 1, epochs, step, steps_per_epoch, float(loss.detach()), at.rate,
                                  at.eta, None, best)
        except (KeyboardInterrupt, Cancelled):
            _checkpoint(ckpt, model, optimizer, epoch, best)  # this epoch starts again on resume
            raise
        model.eval()
        value = validate()
        if value is not None and (best is None or better(value, best)):
            best = value
            save()
            saved = str(out)
        else:
            saved = None
        if value is None:  # nothing held out: keep the last epoch
            save()
            saved = str(out)
        _checkpoint(ckpt, model, optimizer, epoch + 1, best)
        yield _step_event(name, epoch + 1, epochs, steps_per_epoch, steps_per_epoch, float("nan"), 0.0, None, value,
                          best, saved)


def _autocast(torch: Any, dev: str, amp_dtype: Any) -> Any:
    """Mixed precision over fp32 weights: both models load as fp32 whatever their checkpoint holds.

    Why fp32: the optimizer must update master weights in full precision (fp16 steps round away or overflow
    to nan), and CPU autocast refuses fp16 weights outright ("Unexpected floating ScalarType"); the shipped
    demo models are stored in fp16.
    """
    return torch.autocast(device_type="cuda" if dev == "cuda" else "cpu", dtype=amp_dtype or torch.bfloat16,
                          enabled=amp_dtype is not None and dev in ("cpu", "cuda"))


def _train_clip(data: Dataset, out: Path, base: str, train_imgs: list[int], val_imgs: list[int], epochs: int,
                batch_size: int, lr: float, dev: str, amp_dtype: Any, resume: bool, cancel: threading.Event,
                seed: int, workers: int) -> Iterator[TrainProgress]:
    import torch
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

    tokenizer = load_model(AutoTokenizer, base, "--base")
    if not tokenizer.model_max_length or tokenizer.model_max_length > 10_000:
        tokenizer.model_max_length = 77
    image_processor = load_model(AutoImageProcessor, base, "--base", backend="pil")
    model = load_model(CLIPModel, base, "--base", use_safetensors=True, dtype=torch.float32).to(dev)
    pixels = _Pixels(data, Preprocess.from_image_processor(image_processor), workers)
    keep = set(train_imgs)
    pairs = [(t, o) for t, o in zip(data.captions, data.owner) if o in keep]
    steps = len(batches(pairs, batch_size, random.Random(seed)))

    def step_fn(epoch: int) -> Iterator[Any]:
        for batch in batches(pairs, batch_size, random.Random(seed + epoch)):
            enc = tokenizer([t for t, _ in batch], padding=True, truncation=True, return_tensors="pt")
            px = torch.from_numpy(pixels.get([o for _, o in batch])).to(dev)
            with _autocast(torch, dev, amp_dtype):
                result = model(input_ids=enc.input_ids.to(dev), attention_mask=enc.attention_mask.to(dev),
                               pixel_values=px)
            yield contrastive_loss(result.logits_per_text.float(), torch.from_numpy(positives(batch)).to(dev))

    def validate() -> float | None:
        if not val_imgs:
            return None
        held = set(val_imgs)
        val_pairs = [(t, val_imgs.index(o)) for t, o in zip(data.captions, data.owner) if o in held]
        with torch.inference_mode():
            iv = torch.cat([model.get_image_features(pixel_values=torch.from_numpy(pixels.get(val_imgs[i:i + 64]))
                                                     .to(dev)).pooler_output for i in range(0, len(val_imgs), 64)])
            texts = [t for t, _ in val_pairs]
            tv = torch.cat([model.get_text_features(**{k: v.to(dev) for k, v in tokenizer(
                texts[i:i + 256], padding=True, truncation=True, return_tensors="pt").items()}).pooler_output
                for i in range(0, len(texts), 256)])
        image_unit = torch.nn.functional.normalize(iv.float(), dim=-1).cpu().numpy()
        text_unit = torch.nn.functional.normalize(tv.float(), dim=-1).cpu().numpy()
        top = np.argmax(text_unit @ image_unit.T, axis=1)
        has: dict[str, set[int]] = {}
        for text, o in val_pairs:
            has.setdefault(text, set()).add(o)
        return float(np.mean([int(top[k]) in has[text] for k, (text, _) in enumerate(val_pairs)]))

    def save() -> None:
        model.save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
        image_processor.save_pretrained(out)

    yield from _loop("clip", model, out, epochs, steps, step_fn, validate, lambda a, b: a > b, save, resume,
                     cancel, lr)


def _train_git(data: Dataset, out: Path, base: str, train_imgs: list[int], val_imgs: list[int], epochs: int,
               batch_size: int, lr: float, dev: str, amp_dtype: Any, resume: bool, cancel: threading.Event,
               seed: int, workers: int, freeze_image_encoder: bool = False) -> Iterator[TrainProgress]:
    """With `freeze_image_encoder` only the text side learns.

    Why: a small or young captioner's language-model gradients are noise at
    first, and at a useful learning rate they wore away what a good image
    encoder knew (the demo GIT, its encoder started from the demo CLIP, named
    shapes right 65% of the time trained whole, against 97.5% for that CLIP).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoProcessor

    processor = load_model(AutoProcessor, base, "--caption-model", backend="pil")
    model = load_model(AutoModelForCausalLM, base, "--caption-model", use_safetensors=True,
                       dtype=torch.float32).to(dev)
    if freeze_image_encoder:
        encoder = getattr(getattr(model, "git", None), "image_encoder", None)
        if encoder is None:
            raise ClipgitError(f"{base} has no GIT image encoder to keep frozen")
        encoder.requires_grad_(False)
    pixels = _Pixels(data, Preprocess.from_image_processor(processor.image_processor), workers)
    keep = set(train_imgs)
    pairs = [(t, o) for t, o in zip(data.captions, data.owner) if o in keep]
    steps = len(batches(pairs, batch_size, random.Random(seed)))

    def loss_of(batch: list[tuple[str, int]]) -> Any:
        enc = processor.tokenizer([t for t, _ in batch], padding=True, truncation=True, return_tensors="pt")
        labels = enc.input_ids.masked_fill(enc.attention_mask == 0, -100)
        px = torch.from_numpy(pixels.get([o for _, o in batch])).to(dev)
        with _autocast(torch, dev, amp_dtype):
            result = model(input_ids=enc.input_ids.to(dev), attention_mask=enc.attention_mask.to(dev),
                           pixel_values=px, labels=labels.to(dev))
        return result.loss.float()

    def step_fn(epoch: int) -> Iterator[Any]:
        for batch in batches(pairs, batch_size, random.Random(seed + epoch)):
            yield loss_of(batch)

    def validate() -> float | None:
        held = set(val_imgs)
        val_pairs = [(t, o) for t, o in zip(data.captions, data.owner) if o in held]
        if not val_pairs:
            return None
        with torch.inference_mode():
            losses = [float(loss_of(val_pairs[i:i + batch_size])) for i in range(0, len(val_pairs), batch_size)]
        return float(np.mean(losses))

    def save() -> None:
        model.save_pretrained(out, safe_serialization=True)
        processor.save_pretrained(out)

    yield from _loop("git", model, out, epochs, steps, step_fn, validate, lambda a, b: a < b, save, resume,
                     cancel, lr)
