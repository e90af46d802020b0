"""`eval`: retrieval recall and captioning quality of the current models on a captioned dataset.

Retrieval follows the protocol of the published COCO / Flickr30k numbers:
text->image R@K (each caption queries all images; a hit when its own image
is in the top K) and image->text R@K (each image queries all captions; a hit
when any of its own captions is in the top K). Captioning is scored with
pycocoevalcap's BLEU-4 and CIDEr-D (the COCO caption evaluation code) after a
simple lower-case word tokenisation (its PTB tokenizer needs Java).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from clipgit.core.decode.image import Preprocess, load
from clipgit.core.errors import Cancelled, ImageUnreadable
from clipgit.core.ingest.pipeline import batches
from clipgit.core.lab.dataset import Dataset
from clipgit.core.models.git_captioner import CaptionInput
from clipgit.core.progress import Meter, Progress

KS = (1, 5, 10)


@dataclass
class EvalReport:
    images: int
    captions: int
    text_to_image: dict[str, float]
    image_to_text: dict[str, float]
    captioning: dict[str, float] | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"images": self.images, "captions": self.captions,
                                  "text_to_image": self.text_to_image, "image_to_text": self.image_to_text}
        if self.captioning is not None:
            out["captioning"] = self.captioning
        out["skipped"] = [{"path": p, "reason": r} for p, r in self.problems]
        return out


EvalProgress = Progress[EvalReport]  # phase "images" | "texts" | "captions" | "done" (with the report)


def recall_at_k(image_vecs: np.ndarray, text_vecs: np.ndarray, owner: Sequence[int],
                ks: Sequence[int] = KS) -> tuple[dict[str, float], dict[str, float]]:
    """(text->image, image->text) recall at each K; ties count against the query (strictly-greater rank)."""
    owner_arr = np.asarray(owner)
    n_img = len(image_vecs)
    t2i_rank = np.empty(len(text_vecs), dtype=np.int64)
    i2t_best = np.full(n_img, np.iinfo(np.int64).max, dtype=np.int64)
    sims_all = text_vecs @ image_vecs.T  # (captions, images)
    own = sims_all[np.arange(len(text_vecs)), owner_arr]
    t2i_rank[:] = (sims_all > own[:, None]).sum(axis=1)
    for j in range(n_img):
        column = sims_all[:, j]
        mine = np.flatnonzero(owner_arr == j)
        if len(mine):
            ranks = (column[None, :] > column[mine][:, None]).sum(axis=1)
            i2t_best[j] = ranks.min()
    t2i = {f"R@{k}": float((t2i_rank < k).mean()) for k in ks}
    i2t = {f"R@{k}": float((i2t_best < k).mean()) for k in ks}
    return t2i, i2t


def class_precision_at_1(image_vecs: np.ndarray, text_vecs: np.ndarray, texts: Sequence[str],
                         owner: Sequence[int]) -> float:
    """Each distinct caption (a class) queries all images; a hit when the top image has that caption.

    Captions compare as the set of their "and"-joined parts: "a red circle and a
    blue star" and "a blue star and a red circle" show the same things.
    """
    has: dict[tuple[str, ...], set[int]] = {}
    first: dict[tuple[str, ...], int] = {}
    for i, (text, o) in enumerate(zip(texts, owner)):
        key = caption_class(text)
        has.setdefault(key, set()).add(o)
        first.setdefault(key, i)
    rows = [first[t] for t in has]
    top = np.argmax(text_vecs[rows] @ image_vecs.T, axis=1)
    return float(np.mean([int(top[k]) in has[t] for k, t in enumerate(has)]))


def caption_class(text: str) -> tuple[str, ...]:
    return tuple(sorted(part.strip() for part in re.split(r"\band\b", _words(text)) if part.strip()))


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def caption_scores(predicted: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    gts = {i: [_words(r) for r in refs] for i, refs in enumerate(references)}
    res = {i: [_words(p) or "empty"] for i, p in enumerate(predicted)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    return {"BLEU-4": float(bleu[3]), "CIDEr-D": float(cider)}


def run_eval(data: Dataset, *, encode_pixels: Callable[[np.ndarray], Future[np.ndarray]],
             encode_texts: Callable[[list[str]], Future[np.ndarray]], preprocess: Callable[[], Preprocess],
             caption: Callable[[list[CaptionInput]], Future[list[str | None]]] | None, caption_draft: Callable[[], int],
             batch_size: int, caption_batch_size: int, workers: int, max_pixels: int,
             cancel: threading.Event) -> Iterator[EvalProgress]:
    problems = list(data.problems)
    total = len(data.images)
    pp = preprocess()
    meter: Meter = Meter(total)
    kept: list[int] = []
    vectors: list[np.ndarray] = []

    def pixels(i: int) -> np.ndarray:
        return pp(load(data.images[i], draft_size=pp.draft_size, max_pixels=max_pixels).image)

    stopped = "evaluation stopped"
    for batch in batches(range(total), pixels, batch_size, workers=workers, cancel=cancel, cancelled=stopped):
        good = [one for one in batch if one.value is not None]
        problems += [(data.images[one.item], one.error) for one in batch if one.error is not None]
        if good:
            vectors.append(encode_pixels(np.stack([one.value for one in good if one.value is not None])).result())
            kept += [one.item for one in good]
        yield meter.at("images", batch[-1].item + 1)
    if not kept:
        raise ImageUnreadable("none of the dataset's images could be read")
    remap = {old: new for new, old in enumerate(kept)}
    pairs = [(text, remap[o]) for text, o in zip(data.captions, data.owner) if o in remap]
    texts = [t for t, _ in pairs]
    text_vecs = []
    meter = Meter(len(texts), unit="captions")
    for start in range(0, len(texts), 256):
        if cancel.is_set():
            raise Cancelled("evaluation stopped")
        text_vecs.append(encode_texts(texts[start : start + 256]).result())
        yield meter.at("texts", min(len(texts), start + 256))
    image_matrix, text_matrix = np.concatenate(vectors), np.concatenate(text_vecs)
    t2i, i2t = recall_at_k(image_matrix, text_matrix, [o for _, o in pairs])
    t2i["class_P@1"] = class_precision_at_1(image_matrix, text_matrix, texts, [o for _, o in pairs])
    report = EvalReport(len(kept), len(texts), t2i, i2t, None, problems)
    if caption is not None:
        refs: list[list[str]] = [[] for _ in kept]
        for text, o in pairs:
            refs[o].append(text)
        predicted: list[str] = []
        draft = caption_draft()
        meter = Meter(len(kept), unit="captions")

        def image(i: int) -> Image.Image:
            return load(data.images[i], draft_size=draft, max_pixels=max_pixels).image

        for images in batches(kept, image, caption_batch_size, workers=workers, cancel=cancel, cancelled=stopped):
            written = iter(caption([one.value for one in images if one.value is not None]).result())
            predicted += [(next(written) or "") if one.value is not None else "" for one in images]
            yield meter.at("captions", len(predicted))
        report.captioning = caption_scores(predicted, refs)
        report.captioning["exact"] = float(np.mean([p in r for p, r in zip(predicted, refs)]))
    yield Progress("done", 1, 1, report=report)
