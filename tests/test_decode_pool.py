"""The process decode pool gives the thread pool's answers: same vectors, same skipped files and reasons."""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipgit.core.config import Settings
from clipgit.core.decode.pool import SHIP_BYTES, use_processes
from clipgit.core.engine import Engine
from clipgit.core.store.vectors import from_blob
from tests.conftest import make_photos


def test_when_processes_are_used() -> None:
    assert not use_processes("auto", 100_000, cores=2)  # 2 cores: threads decode as fast
    assert not use_processes("auto", 200, cores=16)  # a small run: starting workers costs more
    assert use_processes("auto", 5_000, cores=16)
    assert use_processes("processes", 1, cores=1) and not use_processes("threads", 10**6, cores=64)


def test_processes_index_like_threads(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    make_photos(folder, 5, ext="jpg", size=(320, 240))
    make_photos(folder, 3, start=5, ext="png")
    _turned_jpeg(folder / "portrait.jpg", (320, 240))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    answers = {}
    for decode in ("threads", "processes"):
        s = dataclasses.replace(settings, data_dir=tmp_path / decode, decode=decode)
        with Engine(s) as engine:
            report = engine.index([str(folder)])
            rows = engine.catalog().conn.execute(
                "SELECT i.path, e.vector FROM images i JOIN embeddings e ON e.image_id = i.id").fetchall()
            answers[decode] = (report.embedded, report.skipped, {os.fsdecode(p): from_blob(v) for p, v in rows})
            assert _size_kept(engine, folder / "portrait.jpg") == (240, 320)  # as shown, not as stored
    (n_threads, skipped_threads, threads), (n_procs, skipped_procs, procs) = answers["threads"], answers["processes"]
    assert n_threads == n_procs == 9 and skipped_threads == skipped_procs and len(skipped_procs) == 1
    assert threads.keys() == procs.keys()
    for path in threads:
        assert np.allclose(threads[path], procs[path], atol=1e-5), path


def test_processes_feed_the_gpu_path(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With GPU decode, workers hand JPEGs back undecoded (a big one by path alone) and crop the rest."""
    import clipgit.core.decode.gpu_decode as gpu
    from tests.helpers import as_nvjpeg

    folder = tmp_path / "pics"
    make_photos(folder, 4, ext="jpg", size=(320, 240))
    make_photos(folder, 2, start=4, ext="png")
    noise = np.random.default_rng(0).integers(0, 256, (1500, 2000, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "big.jpg", quality=100)
    assert (folder / "big.jpg").stat().st_size > SHIP_BYTES
    _turned_jpeg(folder / "portrait.jpg", (320, 240))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    monkeypatch.setattr(gpu, "gpu_decode_available", lambda device: True)
    monkeypatch.setattr(gpu, "decode_jpegs", as_nvjpeg)
    answers = {}
    for decode in ("threads", "processes"):
        s = dataclasses.replace(settings, data_dir=tmp_path / decode, decode=decode)
        with Engine(s) as engine:
            report = engine.index([str(folder)])
            assert engine.clip.load().raw_jpeg
            rows = engine.catalog().conn.execute(
                "SELECT i.path, e.vector FROM images i JOIN embeddings e ON e.image_id = i.id").fetchall()
            answers[decode] = (report.embedded, report.skipped, {os.fsdecode(p): from_blob(v) for p, v in rows})
            assert _size_kept(engine, folder / "portrait.jpg") == (240, 320)  # read from the header alone
    assert answers["threads"][0] == answers["processes"][0] == 8
    assert answers["threads"][1] == answers["processes"][1] and len(answers["processes"][1]) == 1
    for path, vector in answers["threads"][2].items():
        assert np.allclose(vector, answers["processes"][2][path], atol=1e-5), path


def _turned_jpeg(path: Path, size: tuple[int, int]) -> None:
    """A photo stored landscape that is shown portrait (EXIF orientation 6, as phones write them)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", size, (200, 30, 30)).save(path, exif=exif)


def _size_kept(engine: Engine, path: Path) -> tuple[int, int]:
    from clipgit.core.names import to_db

    width, height = engine.catalog().conn.execute("SELECT width, height FROM images WHERE path = ?",
                                                  (to_db(str(path)),)).fetchone()
    return width, height


def test_regions_of_the_shared_block_are_written_again(tmp_path: Path) -> None:
    """More chunks than regions: a chunk gets a region once an earlier one is done with, the rest travel
    through the pipe, and every model input is the one the thread path makes. The block's file goes at close."""
    from clipgit.core.decode.image import Preprocess, decode, read_bytes
    from clipgit.core.decode.pool import CHUNK, ProcessDecoder
    from clipgit.core.scan import FileStat

    folder = tmp_path / "pics"
    make_photos(folder, 3 * CHUNK + 5, ext="jpg", size=(96, 64))
    stats = [FileStat(str(p), 0, 0) for p in sorted(folder.iterdir())]
    pp = Preprocess(shortest_edge=32, crop_height=32, crop_width=32)
    pool = ProcessDecoder(1, stats, pp, 10**9, regions=2)  # chunks 0-2 asked for at once, then one more
    assert pool.block is not None
    path = pool.block.path
    in_block = 0
    try:
        for stat in stats:
            got = pool.result(stat)[3]
            assert isinstance(got, np.ndarray)
            base: object = got
            while isinstance(base, np.ndarray):
                base = base.base
            in_block += isinstance(base, memoryview)
            expected = pp(decode(read_bytes(stat.path), draft_size=pp.draft_size)[0])
            assert np.array_equal(got, expected), stat.path
            pool.done_with(stat)
        assert in_block == 2 * CHUNK + 5  # chunks 0 and 1 in the block, 2 through the pipe, 3 where 0 was
        assert {pool.block.take(), pool.block.take()} == {0, 1}  # every region given back ...
        assert pool.block.take() is None  # ... once
    finally:
        pool.close()
    assert not os.path.exists(path)


def test_without_shared_memory_bytes_travel_through_pipes(settings: Settings, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import clipgit.core.decode.pool as pool

    def full(regions: int, region_bytes: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pool, "SharedBlock", full)
    folder = tmp_path / "pics"
    make_photos(folder, 5, ext="jpg", size=(320, 240))
    with Engine(dataclasses.replace(settings, decode="processes")) as engine:
        report = engine.index([str(folder)])
    assert report.embedded == 5 and not report.skipped


def test_workers_decode_big_jpegs_while_the_card_is_behind(tmp_path: Path) -> None:
    from clipgit.core.decode.image import Preprocess
    from clipgit.core.decode.jpeg_header import RawJpeg
    from clipgit.core.decode.pool import read_and_crop
    from clipgit.core.decode.split import HYBRID_MIN_PIXELS
    from clipgit.core.scan import FileStat

    folder = tmp_path / "pics"
    make_photos(folder, 1, ext="jpg", size=(320, 240))
    Image.new("RGB", (2000, 1500), (200, 40, 40)).save(folder / "big.jpg")
    assert HYBRID_MIN_PIXELS <= 2000 * 1500
    pp = dataclasses.replace(Preprocess(), raw_jpeg=True)
    small, big = FileStat(str(next(folder.glob("img_*"))), 0, 0), FileStat(str(folder / "big.jpg"), 0, 0)
    assert isinstance(read_and_crop(big, pp, 10**9)[3], RawJpeg)
    assert isinstance(read_and_crop(big, pp, 10**9, big_here=True)[3], np.ndarray)  # cropped here
    assert isinstance(read_and_crop(small, pp, 10**9, big_here=True)[3], RawJpeg)  # the card's, always


def test_a_killed_runs_block_is_removed_by_the_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    from clipgit.core.decode import shared_block

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(os.path, "isdir", lambda path: False)  # no /dev/shm: the temporary folder
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f"{shared_block.PREFIX}{int(gone.stdout)}-deadbeef"
    orphan.write_bytes(b"\0" * 4096)
    mine = tmp_path / f"{shared_block.PREFIX}{os.getpid()}-cafecafe"  # this process is alive: kept
    mine.write_bytes(b"")
    block = shared_block.SharedBlock(2, region_bytes=4096)
    try:
        assert not orphan.exists() and mine.exists() and os.path.exists(block.path)
        assert block.take() == 0 and block.take() == 1 and block.take() is None
    finally:
        block.close()
    assert not os.path.exists(block.path)


def test_jpegs_for_the_card_come_back_in_place_in_bigger_chunks(tmp_path: Path) -> None:
    from clipgit.core.decode.image import Preprocess
    from clipgit.core.decode.jpeg_header import RawJpeg
    from clipgit.core.decode.pool import JPEG_CHUNK, ProcessDecoder
    from clipgit.core.scan import FileStat

    folder = tmp_path / "pics"
    make_photos(folder, 2 * JPEG_CHUNK + 3, ext="jpg", size=(96, 64))
    stats = [FileStat(str(p), 0, 0) for p in sorted(folder.iterdir())]
    pp = dataclasses.replace(Preprocess(), raw_jpeg=True)
    pool = ProcessDecoder(1, stats, pp, 10**9, regions=1, region_bytes=1 << 20, chunk=JPEG_CHUNK)
    kinds = []
    try:
        for stat in stats:
            got = pool.result(stat)[3]
            assert isinstance(got, RawJpeg) and bytes(got.data) == Path(stat.path).read_bytes()
            kinds.append(type(got.data))
            pool.done_with(stat)
    finally:
        pool.close()
    # chunk 0 in the one region, chunks 1 and 2 (asked for before it was free) through the pipe
    assert kinds.count(memoryview) == JPEG_CHUNK and kinds.count(bytes) == JPEG_CHUNK + 3


def test_the_block_reserves_its_space_only_where_space_is_short(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """With room to spare the workers' first writes take the pages (no zeroing up front on the run's thread);
    where the folder is short, the space is reserved, so a full tmpfs fails at once (and the run uses pipes)."""
    from clipgit.core.decode import shared_block

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(os.path, "isdir", lambda path: False)
    reserved: list[int] = []

    def fallocate(fd: int, offset: int, size: int) -> None:
        reserved.append(size)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", fallocate, raising=False)
    block = shared_block.SharedBlock(4, region_bytes=4096)  # plenty of room in the temporary folder
    assert not reserved and os.path.getsize(block.path) == 4 * 4096
    block.close()

    class Short:
        f_bavail, f_frsize = 5, 4096  # 20 KB free: less than twice the block

    monkeypatch.setattr(os, "statvfs", lambda folder: Short())
    with pytest.raises(OSError):
        shared_block.SharedBlock(4, region_bytes=4096)
    assert reserved == [4 * 4096] and not list(tmp_path.glob(f"{shared_block.PREFIX}*"))


def test_inline_items_come_in_order_with_reasons_and_stop_on_cancel() -> None:
    """Where worker processes read, the run's thread prepares each file as it asks for it (InlineBackend):
    in order, an unreadable one as its reason, and a cancel stops it (raising when a message is given)."""
    import threading

    from clipgit.core.errors import Cancelled, ImageUnreadable
    from clipgit.core.ingest.pipeline import InlineBackend, decoded

    def prepare(n: int) -> int:
        if n == 2:
            raise ImageUnreadable("two is broken")
        return n * 10

    got = [(one.item, one.value, one.error) for one in decoded(range(4), prepare, backend=InlineBackend())]
    assert got == [(0, 0, None), (1, 10, None), (2, None, "two is broken"), (3, 30, None)]
    cancel = threading.Event()
    seen = []
    with pytest.raises(Cancelled, match="stopped"):
        for one in decoded(range(10), prepare, backend=InlineBackend(), cancel=cancel, cancelled="stopped"):
            seen.append(one.item)
            if one.item == 1:
                cancel.set()
    assert seen == [0, 1]


def written(item: object) -> object:
    """Where a worker wrote a file into the shared block: the second of the pair it sends back for it."""
    assert isinstance(item, tuple) and len(item) == 2
    return item[1]


def test_model_inputs_start_aligned_after_jpeg_bytes(tmp_path: Path) -> None:
    """With GPU decode a chunk holds JPEG bytes of any length and other files' float32 inputs: each input
    starts on a 64-byte boundary, and reads back as what the thread path makes."""
    from clipgit.core.decode.image import Preprocess, decode, read_bytes
    from clipgit.core.decode.pool import InBlock, read_and_crop_many
    from clipgit.core.decode.shared_block import SharedBlock
    from clipgit.core.scan import FileStat

    make_photos(tmp_path, 1, ext="jpg", size=(97, 61))
    make_photos(tmp_path, 1, start=1, ext="png", size=(97, 61))
    stats = [FileStat(str(p), 0, 0) for p in sorted(tmp_path.iterdir())]
    pp = Preprocess(shortest_edge=32, crop_height=32, crop_width=32, raw_jpeg=True)
    block = SharedBlock(1, 1 << 20)
    try:
        out = read_and_crop_many(stats, pp, 10**9, (block.path, 0, block.region_bytes))
        jpeg, png = (written(item) for item in out)
        assert isinstance(jpeg, InBlock) and isinstance(png, InBlock) and jpeg.shape is None
        assert jpeg.length % 64 and png.offset % 64 == 0 and png.offset >= jpeg.length
        got = np.frombuffer(block.read(png.offset, png.length), np.float32).reshape(png.shape)
        assert np.array_equal(got, pp(decode(read_bytes(stats[1].path), draft_size=pp.draft_size)[0]))
    finally:
        block.close()


def _faults_per_file(paths: list[str]) -> float:
    """In a worker: page faults a file while preparing these files a second time, into shared memory."""
    import resource

    from clipgit.core.decode.image import Preprocess
    from clipgit.core.decode.pool import read_and_crop_many
    from clipgit.core.decode.shared_block import SharedBlock
    from clipgit.core.scan import FileStat

    stats, pp = [FileStat(p, 0, 0) for p in paths], Preprocess()
    block = SharedBlock(1, len(stats) * (pp.input_bytes + 64))
    try:
        read_and_crop_many(stats, pp, 10**9, (block.path, 0, block.region_bytes))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        read_and_crop_many(stats, pp, 10**9, (block.path, 0, block.region_bytes))
        return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / len(stats)
    finally:
        block.close()


def _grainy_jpeg(path: Path, size: tuple[int, int], seed: int) -> None:
    """A photo-like JPEG whose file is as large as a camera's (grain does not compress away)."""
    rng = np.random.default_rng(seed)
    base = Image.fromarray((rng.random((12, 16, 3)) * 255).astype(np.uint8)).resize(size, Image.Resampling.BICUBIC)
    grain = rng.integers(-6, 7, (size[1], size[0], 1), dtype=np.int16)
    Image.fromarray(np.clip(np.asarray(base, np.int16) + grain, 0, 255).astype(np.uint8)).save(path, quality=90)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's heap settings")
def test_workers_reuse_the_memory_they_free(tmp_path: Path) -> None:
    """A worker's heap keeps what each file freed for the next: with 12 MP photos among small ones, glibc
    had given megabytes back to the kernel and taken them again page by page, about 200 faults a file."""
    from clipgit.core.decode import pool as decode_pool

    small = [tmp_path / f"small{i:02d}.jpg" for i in range(12)]
    big = [tmp_path / f"big{i}.jpg" for i in range(2)]
    for i, path in enumerate(small):
        _grainy_jpeg(path, (640, 480), i)
    for i, path in enumerate(big):
        _grainy_jpeg(path, (4000, 3000), 100 + i)
    paths = [str(p) for i, path in enumerate(small) for p in [path, *([big[i // 6]] if i % 6 == 0 else [])]]
    with decode_pool.worker_pool(1) as pool:
        assert pool.submit(_faults_per_file, paths).result(timeout=60) < 20


def test_naflex_inputs_written_over_an_earlier_one_are_whole(tmp_path: Path) -> None:
    """NaFlex inputs fill only as many patch rows as the picture has: one written where a bigger one was
    leaves no rows of it behind, and reads back as what the thread path makes."""
    from clipgit.core.decode.image import Preprocess, decode, read_bytes
    from clipgit.core.decode.pool import InBlock, read_and_crop_many
    from clipgit.core.decode.shared_block import SharedBlock
    from clipgit.core.scan import FileStat

    make_photos(tmp_path / "square", 1, ext="jpg", size=(96, 96))
    make_photos(tmp_path / "wide", 1, ext="png", size=(120, 40))  # 48 patches of 64
    square, wide = (FileStat(str(next((tmp_path / name).iterdir())), 0, 0) for name in ("square", "wide"))
    pp = Preprocess(shortest_edge=8, crop_height=8, crop_width=8, center_crop=False, patch=8, max_patches=64)
    block = SharedBlock(1, 1 << 20)
    try:
        for stat in (square, wide):  # the same place in the same region each time
            (item,) = read_and_crop_many([stat], pp, 10**9, (block.path, 0, block.region_bytes))
            placed = written(item)
            assert isinstance(placed, InBlock) and placed.shape == pp.input_shape
            got = np.frombuffer(block.read(placed.offset, placed.length), np.float32).reshape(placed.shape)
            assert np.array_equal(got, pp(decode(read_bytes(stat.path), draft_size=pp.draft_size)[0])), stat.path
    finally:
        block.close()
