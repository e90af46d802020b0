"""Big JPEGs go to the cores only while the card has a backlog, and never to every thread; small ones always
to the card."""

from __future__ import annotations

from clipgit.core.decode.split import BACKLOG_S, GPU_PIXELS_PER_S, HYBRID_MIN_PIXELS, READERS, DecodeSplit

PHOTO = 4000 * 3000
BACKLOG = int(BACKLOG_S * GPU_PIXELS_PER_S / PHOTO) + 1  # photos that make a backlog


def test_small_pictures_always_go_to_the_card() -> None:
    split = DecodeSplit(16)
    assert all(split.to_gpu(640 * 480) for _ in range(100_000))
    assert HYBRID_MIN_PIXELS > 640 * 480


def test_photos_go_to_the_cores_while_the_card_is_behind() -> None:
    split = DecodeSplit(16)
    assert all(split.to_gpu(PHOTO) for _ in range(BACKLOG))  # the card has no backlog yet
    assert split.backlog()
    declined = [not split.to_gpu(PHOTO) for _ in range(50)]
    assert sum(declined) == 16 - READERS and all(declined[:16 - READERS])  # threads left to read for the card
    split.cpu_done()
    assert not split.to_gpu(PHOTO)  # a thread is free again
    split.gpu_done(BACKLOG * PHOTO)  # the card caught up
    for _ in range(16):
        split.cpu_done()
    assert not split.backlog() and split.to_gpu(PHOTO)


def test_few_cores_and_worker_processes_never_decode_here() -> None:
    few = DecodeSplit(READERS)
    assert all(few.to_gpu(PHOTO) for _ in range(10 * BACKLOG))
    processes = DecodeSplit(16)
    assert all(processes.to_gpu(PHOTO, may_decline=False) for _ in range(10 * BACKLOG))
    assert processes.backlog()  # the workers decode the next big ones
