"""benchmarks/ocr.py's whole `clipgit-tui index --ocr` rows: cold in-process, through the warm service, and the
limit of the models that command runs (CLIP and the OCR networks) on pre-decoded input.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ocr_limit import Run, record, replay
from text_pictures import Picture

from clipgit.core.models.fold import fold
from clipgit.core.models.ocr import OcrReader

ROOT = Path(__file__).resolve().parent.parent


def _app() -> str:
    return shutil.which("clipgit-tui", path=str(Path(sys.executable).parent)) or "clipgit-tui"


def _env(data: Path, service: bool = False, clip: str = "demo") -> dict[str, str]:
    """The command's environment: a library of its own in `data`, CLIP `clip` (the demo one, or a model folder);
    the warm service on or off (on, its registry file goes under `data` too, so no `service stop --all` elsewhere
    reaches it)."""
    return dict(os.environ, CLIPGIT_DATA_DIR=str(data), CLIPGIT_CONFIG=os.devnull, CLIPGIT_CLIP_MODEL=clip,
                CLIPGIT_CAPTION_MODEL="demo", CLIPGIT_SERVICE="1" if service else "0", HF_HUB_OFFLINE="1",
                CLIPGIT_RUNTIME_DIR=str(data / "runtime"))


def index_command(folder: Path, count: int, name: str, clip: str = "demo") -> tuple[Run, Path]:
    """`clipgit-tui index FOLDER --ocr` on a new library, in-process (no service: its time is this command's):
    wall time and the CPU seconds of the process and its children. Returns the run and its data dir."""
    run = Run(name)
    data = Path(tempfile.mkdtemp(prefix="ocr-bench-"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([_app(), "index", str(folder), "--ocr", "-q"], env=_env(data, clip=clip), check=True,
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


def served_command(folder: Path, count: int, name: str, clip: str = "demo") -> Run:
    """`clipgit-tui index FOLDER --ocr` as a user runs it by default: a fresh process, answered by the warm
    service. On a new library the service is started and warmed first by another model command on another
    folder (`index --ocr` of one blank picture: CLIP and the text reader loaded), not timed. Timed: the wall
    time of the command, and the CPU seconds of the command (a child of this process) and of the service
    process during it. The service is stopped after."""
    run = Run(name)
    data = Path(tempfile.mkdtemp(prefix="ocr-bench-served-"))
    env = _env(data, service=True, clip=clip)
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


def whole_quality(data: Path, folder: Path, pictures: list[Picture],
                  clip: str = "demo") -> tuple[list[str], float, int]:
    """The text the whole command stored (`clipgit-tui ocr --json`, from the cache), and each word of at least
    16 px searched as `text:WORD`: the share whose first result is a picture whose words contain it (a word
    matches inside a longer one, as the filter promises), and the number of searches."""
    from clipgit.core.config import Settings
    from clipgit.core.engine import Engine

    read = subprocess.run([_app(), "ocr", "--json", *(str(folder / p.name) for p in pictures)],
                          env=_env(data, clip=clip), check=True, capture_output=True, text=True)
    texts = [item["text"] or "" for item in json.loads(read.stdout)]
    engine = Engine(Settings.load(data_dir=data, clip_model=clip, caption_model="demo"))
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

    def __init__(self, reader: OcrReader, paths: list[Path], batch: int, clip: str = "demo") -> None:
        import numpy as np

        from clipgit.core.config import Settings
        from clipgit.core.decode.image import decode, read_bytes
        from clipgit.core.ingest.ocr_jobs import picture
        from clipgit.core.models import device_plan
        from clipgit.core.models.clip import ClipEncoder

        s = Settings.load(clip_model=clip, caption_model="demo")
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
