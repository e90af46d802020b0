"""Benchmark: indexing throughput with the full-size (random) ViT-B/32, for each image size asked for.

Prints, side by side in one run and per size: ours (a whole `Engine.index`:
scan, read, fingerprint, decode, embed, commit), the naive loop of the origin
README (full decode, CLIPProcessor, fp32, batch 1), the model alone, each
decode path alone (threads, processes, and on CUDA nvJPEG + torch resize),
and the limit: on a CPU, cores / (model + decode CPU-s per image); on a GPU,
the slower of the model alone and the best decode path alone. On CUDA it
also checks that the GPU path's vectors match the reference processor's.

    python benchmarks/ingest.py                       # this CPU: 48 JPEGs of 4000x3000
    python benchmarks/ingest.py --device cuda         # 640x480 and 4000x3000, thousands of files
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from common import CACHE, Timer, full_clip_dir, table, unique_jpegs
from ingest_parts import (
    card_alone,
    decode_gpu,
    decode_processes,
    decode_threads,
    feed_alone,
    model_alone,
    read_alone,
)
from PIL import Image
from sampler import StackSampler


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--sizes", default="", help="e.g. 640x480,4000x3000 (default: 4000x3000 on CPU, both on CUDA)")
    ap.add_argument("--n", default="", help="files per size, e.g. 8192,1024 (default: 48 on CPU)")
    ap.add_argument("--naive-n", type=int, default=12, help="images for the (slow) naive loop")
    ap.add_argument("--decode-n", type=int, default=0, help="files for each decode-alone row (0: all)")
    ap.add_argument("--batch-sizes", default="", help="model-alone batch sizes (default 8,16,32 CPU; 256,1024 GPU)")
    ap.add_argument("--stages", action="store_true", help="also time the stages of ours, and variants of it")
    ap.add_argument("--variants", default="",
                    help="with --stages: WORKERS:BATCH[:GIL-SWITCH-S] for ours, e.g. 16:256,16:512:0.0005")
    ap.add_argument("--no-faithful", action="store_true", help="skip the vectors check on CUDA")
    ap.add_argument("--read-modes", default="", help="on CUDA: how files are read for the card, e.g. threads "
                    "(default: processes,threads on 8+ cores)")
    ap.add_argument("--no-cpu-decode", action="store_true", help="skip the CPU decode-alone rows")
    ap.add_argument("--profile", action="store_true", help="one more whole run of ours per size, with a stack "
                    "sampler: where each thread spends its time")
    ap.add_argument("--warm-n", type=int, default=64, help="files each whole run warms up on first, in a "
                    "data dir of their own")
    ap.add_argument("--decoders", default="", help="on CUDA: which GPU JPEG decoders, e.g. torchvision "
                    "(default: each that imports)")
    args = ap.parse_args()
    cuda = args.device.startswith("cuda")
    sizes = [tuple(int(v) for v in s.split("x")) for s in (args.sizes or ("640x480,4000x3000" if cuda else
                                                                          "4000x3000")).split(",")]
    counts = [int(v) for v in (args.n or ("8192,1024" if cuda else "48")).split(",")]
    counts += [counts[-1]] * (len(sizes) - len(counts))
    batch_sizes = [int(b) for b in (args.batch_sizes or ("256,1024" if cuda else "8,16,32")).split(",")]
    import torch

    from clipgit.core.models.hub import dtype_name, resolve_dtype

    dtype = resolve_dtype(args.precision, args.device)
    model_dir = full_clip_dir()
    cores = os.cpu_count() or 1
    model_rate, model_bs, model_cpu = model_alone(model_dir, args.device, dtype, batch_sizes)
    print(f"model alone: {model_rate:,.0f} img/s at batch {model_bs} {dtype_name(dtype)} "
          f"({model_cpu * 1000:.2f} CPU-ms/img)", flush=True)
    device_name = torch.cuda.get_device_name() if cuda else "CPU"
    decoders = (args.decoders.split(",") if args.decoders else gpu_decoders()) if cuda else [""]
    print(f"GPU JPEG decoders here: {decoders}", flush=True)
    for size, n in zip(sizes, counts):
        folder = unique_jpegs(size, n)
        files = sorted(str(p) for p in folder.iterdir())[:n]
        decode_files = files[: args.decode_n or n]
        rows: dict[str, float] = {}
        ours: dict[str, float] = {}
        cpu_per_image = {}

        def measure(name: str, fn: Any, *a: Any, rows: dict[str, float] = rows, label: str = f"{size[0]}x{size[1]}",
                    ) -> None:
            try:
                rows[name] = fn(*a)
                print(f"{label} {name}: {rows[name]:,.0f}/s", flush=True)
            except Exception:
                traceback.print_exc()

        for decoder in decoders:  # ours first: the figure that matters, before anything can run out of time
            use_decoder(decoder)
            modes = args.read_modes.split(",") if args.read_modes else (
                ["processes", "threads"] if cuda and cores >= 8 else ["auto"])
            for mode in modes:
                try:
                    label = ", ".join(x for x in (decoder, "" if mode == "auto" else f"{mode} read") if x)
                    ours[label] = engine_index(model_dir, folder, len(files), args.device, args.precision,
                                               decode=mode, stages=args.stages, warm_n=args.warm_n)
                except Exception:
                    traceback.print_exc()
            if args.profile:
                print(f"profiled whole run ({decoder or 'CPU'}; the sampler slows it):", flush=True)
                engine_index(model_dir, folder, len(files), args.device, args.precision, profile=True)
            if cuda:
                measure(f"decode alone: GPU, {decoder} + torch resize (batch 256)", decode_gpu, decode_files,
                        args.device)
                measure(f"GPU decode ({decoder}) + model together, bytes in memory", card_alone, decode_files,
                        model_dir, args.device, args.precision)
        use_decoder(decoders[0])
        cpu_decoders: Any = (("threads", decode_threads), ("processes", decode_processes),
                             ("processes, crops through pipes", lambda f, c: decode_processes(f, c, shared=False)))
        for name, fn in (() if args.no_cpu_decode else cpu_decoders if cores >= 8 else cpu_decoders[:2]):
            try:
                rate, cpu_per_image[name] = fn(decode_files, cores)
                rows[f"decode alone: {name} ({cores})"] = rate
                where = "CPU" if name == "threads" else "the parent's CPU"
                print(f"{size[0]}x{size[1]} decode alone: {name}: {rate:,.0f}/s, {where} "
                      f"{cpu_per_image[name] * 1e6:,.0f} us a file", flush=True)
            except Exception:
                traceback.print_exc()
        if args.stages:
            measure("read + fingerprint + JPEG header alone: threads", read_alone, decode_files, cores)
            for mode in (["threads", "processes"] if cores >= 8 else ["auto"]):
                measure(f"feed alone: Engine.index with a model that answers at once ({mode} read)", feed_alone,
                        folder, len(files), model_dir, args.device, mode)
            try:
                for variant in [v for v in args.variants.split(",") if v]:
                    workers, batch, *switch = variant.split(":")
                    old = sys.getswitchinterval()
                    sys.setswitchinterval(float(switch[0]) if switch else old)
                    try:
                        engine_index(model_dir, folder, len(files), args.device, args.precision, stages=True,
                                     workers=int(workers), batch=int(batch), warm_n=args.warm_n)
                    finally:
                        sys.setswitchinterval(old)
                    if switch:
                        print(f"  (GIL switch interval {switch[0]} s)")
            except Exception:
                traceback.print_exc()
        naive = naive_loop(model_dir, files[: args.naive_n], args.device)
        decode_rows = [rate for name, rate in rows.items() if name.startswith("decode alone")]
        if cuda:
            limit = min(model_rate, max(decode_rows))
            limit_name = "limit: the slower of the model alone and the best decode path alone"
        else:
            limit = cores / (model_cpu + cpu_per_image.get("threads", float("nan")))
            limit_name = f"limit: {cores} cores / (model + fast decode CPU time per image)"
        print()
        print(f"{len(files)} JPEGs of {size[0]}x{size[1]}, ViT-B/32 (random weights), {device_name}, {cores} cores, "
              f"{dtype_name(dtype)}")
        lines = [("", "images/s", "vs naive", "of limit")]
        lines += [(f"ours (Engine.index, whole run{', ' + d if d else ''})", f"{rate:,.1f}", f"{rate / naive:.1f}x",
                   f"{rate / limit:.0%}") for d, rate in ours.items()]
        lines += [("naive loop (full decode, CLIPProcessor, fp32, batch 1)", f"{naive:,.1f}", "1.0x",
                   f"{naive / limit:.0%}"),
                  (f"model alone (batch {model_bs}, {dtype_name(dtype)})", f"{model_rate:,.0f}", "", "")]
        lines += [(name, f"{rate:,.0f}", "", "") for name, rate in rows.items()]
        lines.append((limit_name, f"{limit:,.1f}", f"{limit / naive:.1f}x", "100%"))
        print(table(lines), flush=True)
    if cuda and not args.no_faithful:
        for decoder in decoders:
            use_decoder(decoder)
            try:
                faithful_on_device(model_dir, args.device, args.precision)
            except Exception:
                traceback.print_exc()


def gpu_decoders() -> list[str]:
    """The GPU JPEG decoders that import here, the one clipgit picks first."""

    names = [name for name in ("torchvision", "nvimgcodec") if use_decoder(name) == name]
    use_decoder("auto")
    return names


def use_decoder(name: str) -> str | None:
    from clipgit.core.decode import gpu_decode

    os.environ[gpu_decode.DECODER_ENV] = name or "auto"
    gpu_decode.jpeg_decoder.cache_clear()
    return gpu_decode.jpeg_decoder()


def engine_index(model_dir: Path, folder: Path, n: int, device: str, precision: str, *, stages: bool = False,
                 workers: int = 0, batch: int = 0, decode: str = "auto", profile: bool = False,
                 warm_n: int = 64) -> float:
    """A whole Engine.index into a fresh data dir, the model loaded and warmed up first on `warm_n` other files
    of the same size (a library's first batch pays once for the card's buffers and kernels for its sizes)."""
    import threading
    import time

    from clipgit.core.config import Settings
    from clipgit.core.engine import Engine
    from clipgit.core.ingest import indexer, read_plan
    from clipgit.core.ingest.indexer import IndexRun

    spent = {"prepare": 0.0, "commit": 0.0, "encode": 0.0, "device": 0.0}
    used: list[str] = []  # which read mode "auto" chose

    class Counted(read_plan.ProcessDecoder):
        def __init__(self, *a: Any, **k: Any) -> None:
            super().__init__(*a, **k)
            used.append("processes" + ("" if self.block is not None else ", pipes"))

    original, read_plan.ProcessDecoder = read_plan.ProcessDecoder, Counted
    lock = threading.Lock()

    def timed(name: str, fn: Any) -> Any:
        def run(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                with lock:
                    spent[name] += time.perf_counter() - t0
        return run

    patched: list[tuple[Any, str, Any]] = []  # (where, name, what was there)
    if stages:
        patched = [(IndexRun, "_prepare", IndexRun._prepare), (indexer, "commit_batch", indexer.commit_batch)]
        IndexRun._prepare = timed("prepare", IndexRun._prepare)
        indexer.commit_batch = timed("commit", indexer.commit_batch)

    size = next(iter(sorted(folder.iterdir())))
    with Image.open(size) as first:
        warm = CACHE / f"warm-up-{first.width}x{first.height}" if warm_n == 64 else (
            CACHE / f"warm-up-{first.width}x{first.height}-{warm_n}")
        if not warm.exists():
            shutil.copytree(unique_jpegs((first.width, first.height), warm_n), warm)
    rate = 0.0
    for source in (warm, folder):
        data_dir = tempfile.mkdtemp(prefix="clipgit-bench-")
        settings = Settings(data_dir=Path(data_dir), clip_model=str(model_dir), device=device, precision=precision,
                            decode_workers=workers, batch_size=batch, decode=decode)
        with Engine(settings) as engine:
            engine.load_model()
            if stages:
                clip: Any = engine.clip
                clip.encode_items = timed("encode", clip.encode_items)
                clip.embed_input = timed("encode", clip.embed_input)
                clip.device_input = timed("device", clip.device_input)
            for key in spent:
                spent[key] = 0.0
            scanned = 0.0
            sampler = StackSampler()
            with Timer() as t, (sampler if profile and source == folder else contextlib.nullcontext()):
                for event in engine.index_iter([str(source)]):
                    if event.phase == "embedding" and not scanned:
                        scanned = time.perf_counter() - t.wall0
                    report = event.report
            if source == folder:
                assert report is not None and report.embedded == n and not report.skipped, report
                rate = n / t.wall
                print(f"ours: {n} in {t.wall:.2f} s ({rate:,.0f}/s), batch {engine.batch_size()}, workers "
                      f"{workers or 'auto'} ({decode}: {used[-1] if used else 'threads'} read), GPU decode "
                      f"{os.environ.get('CLIPGIT_JPEG_DECODER', 'auto') if engine.clip.load().raw_jpeg else 'off'}",
                      flush=True)
                if profile:
                    print(sampler.report(), flush=True)
                if stages:
                    print(f"  stages: scan {scanned:.2f} s; prepare {spent['prepare']:.2f} thread-s; device decode "
                          f"thread busy {spent['device']:.2f} s; inference thread busy {spent['encode']:.2f} s; "
                          f"commit {spent['commit']:.2f} s", flush=True)
        shutil.rmtree(data_dir, ignore_errors=True)
    for where, name, fn in patched:
        setattr(where, name, fn)
    read_plan.ProcessDecoder = original
    return rate


def naive_loop(model_dir: Path, files: list[str], device: str) -> float:
    import torch
    from PIL import Image
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(model_dir, dtype=torch.float32).to(device).eval()
    proc = CLIPProcessor.from_pretrained(model_dir)
    with torch.inference_mode(), Timer() as t:
        for f in files:
            inputs = proc(images=Image.open(f).convert("RGB"), return_tensors="pt").to(device)
            vec = model.get_image_features(**inputs).pooler_output
            _ = (vec / vec.norm()).cpu().numpy()
    return len(files) / t.wall


def faithful_on_device(model_dir: Path, device: str, precision: str) -> None:
    """Engine.index on this device (nvJPEG for the JPEGs it takes) against the reference processor, fp32."""
    import numpy as np
    import torch
    from PIL import Image, ImageOps
    from transformers import CLIPModel, CLIPProcessor

    from clipgit.core.config import Settings
    from clipgit.core.engine import Engine
    from clipgit.core.lab.photos import photo
    from clipgit.core.store.vectors import from_blob

    folder = Path(tempfile.mkdtemp(prefix="clipgit-faithful-"))

    def save(name: str, img: Image.Image, **kw: Any) -> None:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=90, **kw)
        (folder / name).write_bytes(buf.getvalue())

    exif = Image.Exif()
    exif[0x0112] = 6
    big = photo(1, (500, 375)).resize((4000, 3000), Image.Resampling.BICUBIC)
    save("baseline-640x480.jpg", photo(2, (80, 60)).resize((640, 480), Image.Resampling.BICUBIC))
    save("progressive-1920x1080.jpg", photo(3, (240, 135)).resize((1920, 1080), Image.Resampling.BICUBIC),
         progressive=True)
    save("exif-rotated-1600x1200.jpg", photo(4, (200, 150)).resize((1600, 1200), Image.Resampling.BICUBIC),
         exif=exif.tobytes())
    save("grayscale-1024x768.jpg", photo(5, (128, 96)).resize((1024, 768), Image.Resampling.BICUBIC).convert("L"))
    save("cmyk-800x600.jpg", photo(6, (100, 75)).resize((800, 600), Image.Resampling.BICUBIC).convert("CMYK"))
    save("12mp-4000x3000.jpg", big)
    photo(7, (300, 200)).save(folder / "drawing.png")
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="clipgit-bench-")), clip_model=str(model_dir),
                        device=device, precision=precision)
    with Engine(settings) as engine:
        report = engine.index([str(folder)])
        rows = engine.catalog().conn.execute(
            "SELECT i.path, e.vector FROM images i JOIN embeddings e ON e.image_id = i.id").fetchall()
        ours = {os.path.basename(os.fsdecode(p)): from_blob(v) for p, v in rows}
        gpu = engine.clip.load().raw_jpeg
    model = CLIPModel.from_pretrained(model_dir, dtype=torch.float32).to(device).eval()
    proc = CLIPProcessor.from_pretrained(model_dir)
    print(f"\nfaithful on {device} (GPU decode {'on' if gpu else 'off'}; skipped: {report.skipped}): "
          f"cosine of Engine.index's vector to the reference processor's (fp32)")
    for name in sorted(ours):
        img = ImageOps.exif_transpose(Image.open(folder / name)).convert("RGB")
        with torch.inference_mode():
            ref = model.get_image_features(**proc(images=img, return_tensors="pt").to(device)).pooler_output
        ref_vec = (ref / ref.norm()).float().cpu().numpy()[0]
        print(f"  {name:<28} {float(np.dot(ours[name], ref_vec)):.5f}")


if __name__ == "__main__":
    main()
