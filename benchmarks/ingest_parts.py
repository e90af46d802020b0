"""The pieces of benchmarks/ingest.py that time one stage alone: the model, each decode path, reading, the feed.

Each returns images per second (some also CPU-seconds per image), measured after a warm-up.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common import Timer


def model_alone(model_dir: Path, device: str, dtype: Any, batch_sizes: list[int]) -> tuple[float, int, float]:
    import torch
    from transformers import CLIPModel

    model = CLIPModel.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    best = (0.0, 0, 0.0)
    for bs in batch_sizes:
        x = torch.randn(bs, 3, 224, 224).to(device, dtype=dtype)
        with torch.inference_mode():
            model.get_image_features(pixel_values=x)  # warm-up
            reps = max(2, 2048 // bs) if device.startswith("cuda") else max(1, 64 // bs)
            _sync(device)
            with Timer() as t:
                for _ in range(reps):
                    model.get_image_features(pixel_values=x)
                _sync(device)
        rate = reps * bs / t.wall
        if rate > best[0]:
            best = (rate, bs, t.cpu / (reps * bs))
    del model
    return best


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _fast_decode(path: str) -> Any:
    from clipgit.core.decode.image import Preprocess, decode, fingerprint, read_bytes

    data = read_bytes(path)
    fingerprint(data)
    pp = Preprocess()
    img, _, _ = decode(data, draft_size=pp.draft_size)
    return pp(img)


def decode_threads(files: list[str], workers: int) -> tuple[float, float]:
    """Read, fingerprint, draft decode, resize, normalise: the CPU path of the pipeline, threads."""
    from clipgit.core.ingest.pipeline import decoded

    with Timer() as t:
        for _ in decoded(files, _fast_decode, workers=workers):
            pass
    return len(files) / t.wall, t.cpu / len(files)


def decode_processes(files: list[str], workers: int, shared: bool = True) -> tuple[float, float]:
    """The same work in the process pool (workers started and warmed up before the clock), as an index run
    has it: the model's input written into shared memory and taken on the run's thread (or, not `shared`,
    sent through pipes and taken by twice as many threads as workers). Also gives the parent's CPU seconds
    per file: what one interpreter spends there is what caps the pool on many cores."""
    from clipgit.core.decode.image import Preprocess
    from clipgit.core.decode.pool import ProcessDecoder
    from clipgit.core.ingest.pipeline import InlineBackend, decoded
    from clipgit.core.ingest.read_plan import plan_reads
    from clipgit.core.scan import FileStat

    pp = Preprocess()
    stats = [FileStat(f, 0, 0) for f in files]
    planned = plan_reads(stats, lambda: pp, decode="processes", workers=workers, batch_size=32, max_pixels=10**9,
                         backend=None, cpu_wanted=lambda: False).processes if shared else None
    pool = planned or ProcessDecoder(workers, stats, pp, 10**9)

    def take(st: FileStat) -> Any:
        pixels = pool.result(st)[3]
        pool.done_with(st)
        return pixels

    try:
        pool.warm_up()
        with Timer() as t:
            inline = pool.block is not None
            for _ in decoded(stats, take, workers=2 * workers, window=4 * workers,
                             backend=InlineBackend() if inline else None):
                pass
    finally:
        pool.close()
    return len(files) / t.wall, t.cpu / len(files)


def decode_gpu(files: list[str], device: str, batch: int = 256) -> float:
    """nvJPEG + orientation + torch resize/crop/normalise, from bytes already in memory (as the pool reads them)."""
    from clipgit.core.decode.gpu_decode import decode_jpegs
    from clipgit.core.decode.image import Preprocess
    from clipgit.core.decode.jpeg_header import raw_jpeg

    raws = [raw_jpeg(Path(f).read_bytes(), 10**9) for f in files]
    assert all(r is not None for r in raws), "a benchmark JPEG the GPU path refuses"
    return gpu_rate(raws, batch, lambda chunk: decode_jpegs(chunk, device), Preprocess(), device)


def gpu_rate(raws: list[Any], batch: int, decode: Callable[[Sequence[Any]], list[Any]], pp: Any,
             device: str) -> float:
    """JPEGs a second through `decode` in batches, then (given `pp`) orientation and the card's resize, crop
    and normalise; after a warm-up batch (the decoder's and the kernels' first use)."""
    from clipgit.core.decode.gpu_decode import orient, preprocess_batch

    def run(chunk: list[Any]) -> None:
        images = decode(chunk)
        if pp is not None:
            preprocess_batch([orient(t, r.orientation) for t, r in zip(images, chunk)], pp)

    run(raws[:batch])
    _sync(device)
    with Timer() as t:
        for start in range(0, len(raws), batch):
            run(raws[start:start + batch])
        _sync(device)
    return len(raws) / t.wall


def read_alone(files: list[str], workers: int) -> float:
    from clipgit.core.decode.image import fingerprint, read_bytes
    from clipgit.core.decode.jpeg_header import raw_jpeg
    from clipgit.core.ingest.pipeline import decoded

    def work(path: str) -> Any:
        data = read_bytes(path)
        fingerprint(data)
        return raw_jpeg(data, 10**9)

    with Timer() as t:
        for _ in decoded(files, work, workers=workers):
            pass
    return len(files) / t.wall


def feed_alone(folder: Path, n: int, model_dir: Path, device: str, decode: str = "auto", batch: int = 0,
               workers: int = 0, costs: dict[str, float] | None = None) -> float:
    """A whole Engine.index with a model that answers at once: what scan, read, fingerprint, sorting and
    commits can deliver to an infinitely fast card (JPEGs handed on undecoded, as on CUDA), files read by
    threads or processes as `decode` says. `costs` gets the run's main thread's CPU seconds per file."""
    import dataclasses

    import numpy as np

    from clipgit.core.config import Settings
    from clipgit.core.engine import Engine

    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="clipgit-bench-")), clip_model=str(model_dir),
                        device=device, decode=decode, batch_size=batch, decode_workers=workers)
    with Engine(settings) as engine:
        clip: Any = engine.clip
        clip.load()
        clip._preprocess = dataclasses.replace(clip._preprocess, raw_jpeg=True)
        clip.device_input = lambda items, limit=0: (None, [None] * len(items))
        clip.embed_input = lambda prepared: (np.zeros((len(prepared[1]), clip.dim), np.float32), prepared[1])
        started, cpu = time.perf_counter(), time.thread_time()
        report = engine.index([str(folder)])
        seconds = time.perf_counter() - started
        if costs is not None:
            costs["main thread"] = (time.thread_time() - cpu) / n
    assert report.embedded == n, report
    return n / seconds


def card_alone(files: list[str], model_dir: Path, device: str, precision: str) -> float:
    """The engine's two GPU stages together (the device-decode thread, then the model on the inference
    thread, three batches in flight as in a run) on JPEG bytes already in memory: what the card can take
    when the feed costs nothing."""
    from collections import deque

    from clipgit.core.config import Settings
    from clipgit.core.decode.jpeg_header import raw_jpeg
    from clipgit.core.engine import Engine

    raws = [raw_jpeg(Path(f).read_bytes(), 10**9) for f in files]
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="clipgit-bench-")), clip_model=str(model_dir),
                        device=device, precision=precision)
    with Engine(settings) as engine:
        engine.load_model()
        batch = engine.batch_size()
        engine._encode_items(raws[:batch]).result()  # warm-up
        inflight: deque[Any] = deque()
        with Timer() as t:
            for start in range(0, len(raws), batch):
                inflight.append(engine._encode_items(raws[start:start + batch]))
                if len(inflight) >= 3:
                    inflight.popleft().result()
            while inflight:
                inflight.popleft().result()
    return len(raws) / t.wall
